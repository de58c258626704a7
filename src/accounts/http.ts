import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { z } from 'zod/v3';
import { clientBase } from '../public-url.js';
import type { AccountsContext, RequestInfo } from './context.js';
import { errors, FxaError } from './errors.js';

// What every plugin speaking the auth server's HTTP dialect shares (fxa-auth.md 3): bodies
// read as text (the Hawk payload hash covers the raw bytes), FxA error bodies, the Timestamp
// header, and zod validation mapped to errno 107/108.

const MAX_BODY_BYTES = 1024 * 1024;

/**
 * Set up a plugin scope to read and answer the way the auth server does; `mapError` lets a
 * scope renumber errors (the OAuth facade answers with the OAuth server's errnos).
 */
export function fxaHttp(app: FastifyInstance, mapError: (err: FxaError) => FxaError = (err) => err): void {
  // Bodies are read as text: the Hawk payload hash covers the raw bytes, and an empty body is {}.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'string', bodyLimit: MAX_BODY_BYTES }, (req, body, done) => {
    req.rawBody = body as string;
    if ((body as string).trim() === '') return done(null, {});
    try {
      done(null, JSON.parse(body as string));
    } catch {
      done(errors.invalidJson(), undefined);
    }
  });

  // A body without a Content-Type is read as JSON, as upstream reads it.
  app.addHook('onRequest', async (req) => {
    if (req.headers['content-type'] === undefined && (req.headers['content-length'] ?? '0') !== '0') req.headers['content-type'] = 'application/json';
  });

  app.addHook('onSend', async (_req, reply, payload) => {
    reply.header('Timestamp', String(Math.floor(Date.now() / 1000)));
    if (!reply.hasHeader('Cache-Control')) reply.header('Cache-Control', 'no-store');
    return payload;
  });

  app.setErrorHandler(async (err: Error & { code?: string; statusCode?: number }, req, reply) => {
    let fxa: FxaError;
    if (err instanceof FxaError) fxa = err;
    else if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE') fxa = errors.bodyTooLarge();
    else if (err.code === 'FST_ERR_CTP_INVALID_CONTENT_LENGTH') fxa = errors.invalidParameter('bad Content-Length');
    else if (err.statusCode && err.statusCode >= 400 && err.statusCode < 500) fxa = new FxaError(err.statusCode, 999, err.message);
    else {
      req.log.error({ err }, 'accounts request failed');
      fxa = errors.unexpected();
    }
    fxa = mapError(fxa);
    return reply.code(fxa.status).headers(fxa.headers).send(fxa.body());
  });
}

/** zod issues to FxA's 107/108 (108 when a required field is simply absent). */
export function validate<S extends z.ZodTypeAny>(schema: S, value: unknown, source: 'payload' | 'query' = 'payload'): z.output<S> {
  const result = schema.safeParse(value ?? {});
  if (result.success) return result.data;
  const issue = result.error.issues[0]!;
  const key = issue.path.join('.');
  // An absent field is 108 whichever check noticed it (a union or literal reports no invalid_type).
  if (key && issue.code !== 'custom' && valueAt(value ?? {}, issue.path) === undefined) throw errors.missingParameter(key);
  const err =
    issue.code === 'unrecognized_keys'
      ? errors.invalidParameter(`unexpected field ${issue.keys.join(', ')}`, issue.keys)
      : errors.invalidParameter(key ? `${key} ${issue.message}` : issue.message, key ? [key] : []);
  (err.extra.validation as { source: string }).source = source;
  throw err;
}

/** The value at `path` inside `value`, own properties only; undefined when a step is absent. */
function valueAt(value: unknown, path: (string | number)[]): unknown {
  let v = value;
  for (const step of path) v = v !== null && typeof v === 'object' && Object.hasOwn(v, step) ? (v as Record<string | number, unknown>)[step] : undefined;
  return v;
}

export function requestInfo(ctx: AccountsContext, req: FastifyRequest): RequestInfo {
  const lang = req.headers['accept-language'];
  // The first real language tag; "*" and garbage say nothing about the user.
  const first = typeof lang === 'string' ? lang.split(',')[0]!.split(';')[0]!.trim() : '';
  let locale = /^[a-zA-Z]{2,8}(?:-[a-zA-Z0-9]{1,8})*$/.test(first) ? first : undefined;
  // Too long for the column: drop whole subtags from the end.
  while (locale && locale.length > 35) locale = locale.replace(/-[^-]*$/, '');
  return { ip: req.ip, origin: clientBase(ctx.publicBase, req), userAgent: req.headers['user-agent'] ?? '', locale };
}

