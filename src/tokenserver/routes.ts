import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { requestOrigin } from '../public-url.js';
import { errors, TokenserverError } from './errors.js';
import { issueToken, type TokenserverContext } from './issue.js';

// The token route. Every answer, errors included, is JSON with X-Timestamp and
// X-Content-Type-Options: nosniff (sync-storage.md 1.2, 1.12, 1.13).

const PATH = '/1.0/:application/:version';
const OTHER_METHODS = ['DELETE', 'HEAD', 'PATCH', 'POST', 'PUT'] as const;

type Params = { application: string; version: string };

function sendError(reply: FastifyReply, err: TokenserverError): FastifyReply {
  if (err.httpStatus === 405) reply.header('Allow', 'GET');
  return reply.code(err.httpStatus).type('application/json').send(JSON.stringify(err.body()));
}

export function tokenRoutes(ctx: TokenserverContext) {
  return async function routes(app: FastifyInstance): Promise<void> {
    app.addHook('onSend', async (_req, reply, payload) => {
      reply.header('X-Timestamp', String(Math.floor(Date.now() / 1000)));
      reply.header('X-Content-Type-Options', 'nosniff');
      return payload;
    });

    app.setErrorHandler(async (err: Error & { statusCode?: number }, req, reply) => {
      if (err instanceof TokenserverError) {
        const level = err.httpStatus >= 500 ? 'warn' : 'info';
        req.log[level]({ status: err.httpStatus, reason: err.reason }, 'token request refused');
        return sendError(reply, err);
      }
      // Bodies the framework could not parse on a route that takes none.
      if (req.method !== 'GET') return sendError(reply, errors.methodNotAllowed(req.method));
      if (err.statusCode !== undefined && err.statusCode < 500) return sendError(reply, new TokenserverError(err.statusCode, 'error', 'body', '', err.message));
      req.log.error({ err }, 'token request failed');
      return sendError(reply, errors.internal(err.message));
    });

    app.get(PATH, async (req, reply) => {
      const { application, version } = req.params as Params;
      const body = await issueToken(ctx, {
        authorization: req.headers.authorization,
        keyId: req.headers['x-keyid'],
        clientState: req.headers['x-client-state'],
        application,
        version,
        duration: (req.query as Record<string, unknown>).duration,
        origin: requestOrigin(req),
      });
      return reply.code(200).type('application/json').send(JSON.stringify(body));
    });

    app.route({
      method: [...OTHER_METHODS],
      url: PATH,
      handler: async (req) => {
        throw errors.methodNotAllowed(req.method);
      },
    });
  };
}
