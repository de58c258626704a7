import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod/v3';
import type { AccountsContext } from '../accounts/context.js';
import { FxaError } from '../accounts/errors.js';
import { clientBase } from '../public-url.js';
import type { AccessTokens } from './access-tokens.js';
import { avatarInfo, deleteAvatar, imageTooLarge, MAX_UPLOAD_BYTES, pictureById, uploadAvatar } from './avatar.js';
import { defaultAvatarPng } from './default-avatar.js';
import {
  authenticateBearer,
  DISPLAY_NAME_PATTERN,
  etagOf,
  ifNoneMatchHits,
  MAX_DISPLAY_NAME,
  profileOf,
  requireScope,
  setDisplayName,
  type ProfileCaller,
} from './profile.js';
import { profileErrors } from './profile-errors.js';
import { covers } from './scopes.js';

// The profile server under /profile/v1 (fxa-auth.md 8.1), authenticated with OAuth access
// tokens, and the pictures it hands out under /profile/a (public: their ids are unguessable).

export interface ProfileRoutesOptions {
  ctx: AccountsContext;
  accessTokens: AccessTokens;
}

/** A GET answer with an ETag over its body; 304 when the client has it already. */
function sendValidated(req: FastifyRequest, reply: FastifyReply, body: unknown) {
  const json = JSON.stringify(body);
  const etag = etagOf(json);
  // Clients may keep it but must ask again each time (with If-None-Match).
  reply.header('ETag', etag).header('Cache-Control', 'private, no-cache');
  if (ifNoneMatchHits(req.headers['if-none-match'], etag)) return reply.code(304).send();
  return reply.type('application/json; charset=utf-8').send(json);
}

const displayNameBody = z.object({
  displayName: z
    .string({ required_error: 'displayName is required', invalid_type_error: 'displayName must be a string' })
    .max(MAX_DISPLAY_NAME, { message: `displayName must be at most ${MAX_DISPLAY_NAME} characters` })
    .regex(DISPLAY_NAME_PATTERN, { message: 'displayName must not contain control characters' }),
});

function toFxaError(err: Error & { code?: string; statusCode?: number }, req: FastifyRequest): FxaError | undefined {
  if (err instanceof FxaError) return err;
  if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
    return /^image\//i.test(req.headers['content-type'] ?? '') ? imageTooLarge() : profileErrors.invalidParameter('request body too large');
  }
  if (err.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') return profileErrors.invalidParameter('unsupported Content-Type', ['content-type']);
  if (err.statusCode === 400) return profileErrors.invalidParameter(err.message);
  if (err.statusCode && err.statusCode > 400 && err.statusCode < 500) return new FxaError(err.statusCode, 999, err.message);
  return undefined;
}

export const profileRoutes: FastifyPluginAsync<ProfileRoutesOptions> = async (app, { ctx, accessTokens }) => {
  // Uploads are raw image bytes; JSON bodies use Fastify's default parser.
  app.addContentTypeParser(/^image\//i, { parseAs: 'buffer', bodyLimit: MAX_UPLOAD_BYTES }, (_req, body, done) => done(null, body));

  // Authenticate before any body is read, so a stranger cannot make us buffer an upload.
  const callers = new WeakMap<FastifyRequest, ProfileCaller>();
  app.addHook('onRequest', async (req) => {
    callers.set(req, await authenticateBearer(ctx, accessTokens, req.headers.authorization));
  });
  const caller = (req: FastifyRequest, scope: string): ProfileCaller => {
    const c = callers.get(req);
    if (!c) throw profileErrors.unauthorized('Bearer token not provided');
    requireScope(c, scope);
    return c;
  };

  app.addHook('onSend', async (_req, reply, payload) => {
    if (!reply.hasHeader('Cache-Control')) reply.header('Cache-Control', 'no-store');
    return payload;
  });

  app.setErrorHandler(async (err: Error & { code?: string; statusCode?: number }, req, reply) => {
    let fxa = toFxaError(err, req);
    if (!fxa) {
      req.log.error({ err }, 'profile request failed');
      fxa = profileErrors.unexpected();
    }
    return reply.code(fxa.status).headers(fxa.headers).header('Cache-Control', 'no-store').send(fxa.body());
  });
  app.setNotFoundHandler(async (_req, reply) => {
    const e = profileErrors.notFound();
    return reply.code(e.status).send(e.body());
  });

  app.get('/profile', async (req, reply) => {
    const c = callers.get(req)!;
    return sendValidated(req, reply, await profileOf(ctx, c, clientBase(ctx.publicBase, req)));
  });
  app.get('/email', async (req, reply) => {
    const c = callers.get(req)!;
    // OpenID Connect's `email` scope reads it too.
    if (!covers(c.scope, 'email')) requireScope(c, 'profile:email');
    return sendValidated(req, reply, { email: c.account.email });
  });
  app.get('/uid', async (req, reply) => sendValidated(req, reply, { uid: caller(req, 'profile:uid').uid }));
  app.get('/display_name', async (req, reply) => {
    const name = caller(req, 'profile:display_name').account.display_name;
    if (!name) return reply.code(204).header('Cache-Control', 'private, no-cache').send();
    return sendValidated(req, reply, { displayName: name });
  });
  app.post('/display_name', { bodyLimit: 4096 }, async (req) => {
    const c = caller(req, 'profile:display_name:write');
    const parsed = displayNameBody.safeParse(req.body ?? {});
    if (!parsed.success) throw profileErrors.invalidParameter(parsed.error.issues[0]!.message, ['displayName']);
    await setDisplayName(ctx, c.uid, parsed.data.displayName);
    return {};
  });
  app.get('/avatar', async (req, reply) => {
    const c = caller(req, 'profile:avatar');
    return sendValidated(req, reply, await avatarInfo(ctx.db, c.uid, clientBase(ctx.publicBase, req)));
  });
  app.post('/avatar/upload', async (req) => {
    const c = caller(req, 'profile:avatar:write');
    const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
    return uploadAvatar(ctx, c.uid, type, req.body, clientBase(ctx.publicBase, req));
  });
  app.delete<{ Params: { id: string } }>('/avatar/:id', async (req) => deleteAvatar(ctx, caller(req, 'profile:avatar:write').uid, req.params.id));
};

export interface ProfileImageRoutesOptions {
  ctx: AccountsContext;
}

/** Pictures, public, registered with prefix '/profile': GET /profile/a/<id> and /profile/a/default/<colour>. */
export const profileImageRoutes: FastifyPluginAsync<ProfileImageRoutesOptions> = async (app, { ctx }) => {
  const notFound = (reply: FastifyReply) => {
    const e = profileErrors.notFound();
    return reply.code(e.status).header('Cache-Control', 'no-store').send(e.body());
  };
  const sendImage = (reply: FastifyReply, contentType: string, bytes: Buffer, etag: string, cacheControl: string) =>
    reply
      .header('Content-Type', contentType)
      .header('Cache-Control', cacheControl)
      .header('ETag', etag)
      .header('X-Content-Type-Options', 'nosniff')
      .header('Content-Security-Policy', "default-src 'none'")
      .header('Cross-Origin-Resource-Policy', 'cross-origin')
      .send(bytes);

  app.get<{ Params: { colour: string } }>('/a/default/:colour', async (req, reply) => {
    const png = defaultAvatarPng(req.params.colour);
    if (!png) return notFound(reply);
    // A later release may draw it differently: cached for a week, not forever.
    return sendImage(reply, 'image/png', png, `"default-${req.params.colour}"`, 'public, max-age=604800');
  });
  app.get<{ Params: { id: string } }>('/a/:id', async (req, reply) => {
    const picture = await pictureById(ctx.db, req.params.id);
    if (!picture) return notFound(reply);
    // The id changes with every upload, so a picture never changes under its URL.
    return sendImage(reply, picture.contentType, picture.image, `"${req.params.id}"`, 'public, max-age=31536000, immutable');
  });
};
