import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod/v3';
import type { AccountsAuthenticator, SessionCredentials } from '../accounts/auth.js';
import type { AccountsContext } from '../accounts/context.js';
import { FxaError } from '../accounts/errors.js';
import { fxaHttp, validate } from '../accounts/http.js';
import { clientBase } from '../public-url.js';
import type { AccessTokens } from './access-tokens.js';
import { authorize } from './authorization.js';
import type { ClientRegistry } from './clients.js';
import type { OauthContext } from './context.js';
import { toOauthError } from './errors.js';
import { scopedKeyData } from './key-data.js';
import { destroyToken } from './revoke.js';
import { grantToken } from './token.js';
import { clientInfo, introspect, verifyAccessToken } from './verify.js';

// OAuth on the auth server, where Firefox calls it (/auth/v1/oauth/..., fxa-auth.md 5), and
// the OAuth server's own API (/oauth/v1/..., fxa-auth.md 6) for tokenservers and mobile clients.

export interface OauthRoutesOptions {
  ctx: AccountsContext;
  auth: AccountsAuthenticator;
  accessTokens: AccessTokens;
  clients: ClientRegistry;
}

const clientId = z.string().regex(/^[0-9a-fA-F]{16}$/, { message: 'must be 16 hex characters' }).transform((s) => s.toLowerCase());
const hex32 = z.string().regex(/^[0-9a-fA-F]{64}$/, { message: 'must be 64 hex characters' }).transform((s) => s.toLowerCase());
const scope = z.string().max(1024).regex(/^[\x21-\x7e ]*$/, { message: 'must be space-separated scope values' });
const ttl = z.number().int().min(0).max(10 * 365 * 86400);

const schemas = {
  authorization: z
    .object({
      client_id: clientId,
      state: z.string().max(512),
      response_type: z.string().max(32).optional(),
      redirect_uri: z.string().max(2048).optional(),
      scope: scope.optional(),
      access_type: z.enum(['online', 'offline']).optional(),
      code_challenge_method: z.enum(['S256']).optional(),
      code_challenge: z.string().regex(/^[A-Za-z0-9_-]{43}$/, { message: 'must be 43 base64url characters' }).optional(),
      keys_jwe: z.string().max(8192).regex(/^[A-Za-z0-9_.-]+$/, { message: 'must be a compact JWE' }).optional(),
      acr_values: z.string().max(256).optional(),
      resource: z.string().max(2048).optional(),
      ttl: ttl.optional(),
      prompt: z.string().max(64).optional(),
    })
    .strict(),
  token: z
    .object({
      grant_type: z.enum(['authorization_code', 'fxa-credentials', 'refresh_token', 'urn:ietf:params:oauth:grant-type:token-exchange']).optional(),
      client_id: clientId,
      client_secret: z.string().max(256).optional(),
      code: hex32.optional(),
      code_verifier: z.string().regex(/^[A-Za-z0-9._~-]{43,128}$/, { message: 'must be 43 to 128 URL-safe characters' }).optional(),
      redirect_uri: z.string().max(2048).optional(),
      refresh_token: hex32.optional(),
      scope: scope.optional(),
      access_type: z.enum(['online', 'offline']).optional(),
      ttl: ttl.optional(),
      ppid_seed: z.number().int().min(0).max(1024).optional(),
      resource: z.string().max(2048).optional(),
      subject_token: z.string().max(256).optional(),
      subject_token_type: z.string().max(256).optional(),
    })
    .strict(),
  destroy: z
    .object({
      client_id: clientId.optional(),
      client_secret: z.string().max(256).optional(),
      token: z.string().max(4096).optional(),
      token_type_hint: z.enum(['access_token', 'refresh_token']).optional(),
      access_token: z.string().max(4096).optional(),
      refresh_token: z.string().max(4096).optional(),
    })
    .strict(),
  keyData: z.object({ client_id: clientId, scope }).strict(),
  verify: z.object({ token: z.string().min(1).max(4096) }).strict(),
  introspect: z.object({ token: z.string().min(1).max(4096), token_type_hint: z.string().max(32).optional() }).strict(),
};

function context(opts: OauthRoutesOptions): OauthContext {
  return { ctx: opts.ctx, accessTokens: opts.accessTokens, clients: opts.clients };
}

/** Under /auth/v1, beside the accounts routes (which own that prefix's 404 answer). */
export async function oauthRoutes(app: FastifyInstance, opts: OauthRoutesOptions): Promise<void> {
  const o = context(opts);
  fxaHttp(app);

  const session = async (req: FastifyRequest) => {
    const credentials = (await opts.auth.authenticate(req, ['sessionToken'])) as SessionCredentials;
    opts.auth.checkPayload(req, req.rawBody);
    return credentials;
  };
  const optionalSession = async (req: FastifyRequest) => (req.headers.authorization ? session(req) : undefined);
  const base = (req: FastifyRequest) => clientBase(opts.ctx.publicBase, req);

  app.post('/oauth/authorization', async (req) => {
    const s = await session(req);
    return authorize(o, s, validate(schemas.authorization, req.body), base(req));
  });
  app.post('/oauth/token', async (req) => {
    const s = await optionalSession(req);
    return grantToken(o, validate(schemas.token, req.body), s);
  });
  app.post('/oauth/destroy', async (req) => destroyToken(o, validate(schemas.destroy, req.body)));
  app.post('/account/scoped-key-data', async (req) => {
    const s = await session(req);
    return scopedKeyData(o, s, validate(schemas.keyData, req.body));
  });
}

/** Form bodies (RFC 6749 clients) become the same object a JSON body would. */
function fromForm(body: string): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of new URLSearchParams(body)) out[k] = ['ttl', 'ppid_seed'].includes(k) && /^\d+$/.test(v) ? Number(v) : v;
  return out;
}

/** Under /oauth/v1: answers in the OAuth server's numbering. */
export async function oauthFacadeRoutes(app: FastifyInstance, opts: OauthRoutesOptions): Promise<void> {
  const o = context(opts);
  fxaHttp(app, toOauthError);
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string', bodyLimit: 64 * 1024 }, (req, body, done) => {
    req.rawBody = body as string;
    done(null, fromForm(body as string));
  });
  app.setNotFoundHandler(async (_req, reply) => reply.code(404).send(new FxaError(404, 999, 'Unsupported endpoint').body()));
  const base = (req: FastifyRequest) => clientBase(opts.ctx.publicBase, req);

  app.post('/verify', async (req) => verifyAccessToken(o, validate(schemas.verify, req.body).token));
  app.get('/jwks', async (_req, reply) => {
    reply.header('Cache-Control', 'public, max-age=3600');
    return opts.accessTokens.jwks();
  });
  // No Hawk here: the session grant (fxa-credentials) belongs to the auth server.
  app.post('/token', async (req) => grantToken(o, validate(schemas.token, req.body), undefined));
  app.post('/destroy', async (req) => destroyToken(o, validate(schemas.destroy, req.body)));
  app.post('/introspect', async (req) => introspect(o, validate(schemas.introspect, req.body)));
  app.get('/client/:id', async (req) => {
    const id = validate(z.object({ id: clientId }), req.params, 'query').id;
    return clientInfo(o, id, base(req));
  });
}
