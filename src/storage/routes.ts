import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { StorageLimits } from '../config.js';
import type { StorageAuthenticator, StorageCredentials } from './auth.js';
import { BSO_ID, COLLECTION_NAME, bsoJson } from './bso.js';
import { ERR, NotModified, PreconditionFailed, StorageError, notFound, unauthorized } from './errors.js';
import { batchMode, checkSizeHeaders, collectionQuery, encodeOffset, negotiate, param, parseIds, postBody, preconditions, putBody } from './http.js';
import type { StorageService } from './service.js';
import { formatTs, nowTicks } from './timestamps.js';

// Sync 1.5 storage routes under /1.5/{uid} (sync-storage.md 2). Handlers parse, call the
// service, and shape the answer.

export interface StorageRouteOptions {
  service: StorageService;
  auth: StorageAuthenticator;
  limits: StorageLimits;
}

declare module 'fastify' {
  interface FastifyRequest {
    storageCredentials?: StorageCredentials;
  }
}

const UID = /^[0-9]{1,10}$/;
const QUOTA_WARNING_BYTES = 1024 * 1024;
const ALL_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH'] as const;

type Params = { uid: string; collection?: string; id?: string };

function json(reply: FastifyReply, status: number, body: string): FastifyReply {
  return reply.code(status).type('application/json').send(body);
}

function lastModified(reply: FastifyReply, ms: number): FastifyReply {
  return reply.header('X-Last-Modified', formatTs(ms));
}

/** Reads report X-Weave-Timestamp = max(now, X-Last-Modified). */
function stamp(reply: FastifyReply, ms: number): FastifyReply {
  return reply.header('X-Weave-Timestamp', formatTs(Math.max(nowTicks(), ms)));
}

/** Writes report their own time T as both X-Last-Modified and X-Weave-Timestamp. */
function stampWrite(reply: FastifyReply, t: number): FastifyReply {
  return lastModified(reply, t).header('X-Weave-Timestamp', formatTs(t));
}

function uidOf(req: FastifyRequest): number {
  return Number((req.params as Params).uid);
}

function fixedUserAgentReject(req: FastifyRequest): boolean {
  // Firefox iOS before v20 corrupts data on newer servers; upstream turns it away with 503.
  const m = /Firefox-iOS-Sync\/(\d+)/.exec(req.headers['user-agent'] ?? '');
  return m !== null && Number(m[1]) > 0 && Number(m[1]) < 20;
}

export async function storageRoutes(app: FastifyInstance, opts: StorageRouteOptions): Promise<void> {
  const { service, auth, limits } = opts;

  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'string', bodyLimit: limits.maxRequestBytes }, (_req, body, done) => done(null, body));

  app.addHook('onRequest', async (req) => {
    const p = req.params as Params;
    if (!UID.test(p.uid ?? '')) throw notFound('no such path');
    if (p.collection !== undefined && !COLLECTION_NAME.test(p.collection)) throw notFound('invalid collection name');
    if (p.id !== undefined && !BSO_ID.test(p.id)) throw notFound('invalid record id');
    if (fixedUserAgentReject(req)) throw new StorageError(503, ERR.UNKNOWN, 'client too old', { 'Retry-After': '86400' });
    if (req.routeOptions.url?.endsWith('/info/configuration')) return;
    const infoCollections = req.method === 'GET' && req.routeOptions.url === '/1.5/:uid/info/collections';
    const credentials = auth.authenticate(req, infoCollections);
    if (credentials.payload.uid !== Number(p.uid)) throw unauthorized('token is for another user');
    req.storageCredentials = credentials;
  });

  app.addHook('preHandler', async (req) => {
    if (req.storageCredentials) auth.checkPayload(req.storageCredentials, req.headers['content-type'], req.body as string | undefined);
  });

  app.addHook('onSend', async (_req, reply, payload) => {
    if (!reply.hasHeader('X-Weave-Timestamp')) stamp(reply, 0);
    return payload;
  });

  app.setErrorHandler(async (err: Error & { code?: string; statusCode?: number }, req, reply) => {
    if (err instanceof NotModified) return lastModified(stamp(reply, err.lastModified), err.lastModified).code(304).send();
    if (err instanceof PreconditionFailed) return json(lastModified(stamp(reply, err.lastModified), err.lastModified), 412, String(ERR.UNKNOWN));
    if (err instanceof StorageError) {
      if (err.status >= 500) req.log.warn({ reason: err.message }, 'storage request refused');
      else req.log.info({ status: err.status, reason: err.message }, 'storage request rejected');
      reply.headers(err.headers);
      return err.code === null ? reply.code(err.status).send() : json(reply, err.status, String(err.code));
    }
    if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE') return json(reply, 413, String(ERR.SIZE_LIMIT));
    if (err.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') return json(reply, 415, String(ERR.UNKNOWN));
    const status = err.statusCode ?? 500;
    if (status >= 400 && status < 500) return json(reply, status, String(ERR.UNKNOWN));
    if (isBusy(err)) {
      req.log.warn({ err }, 'database busy');
      return json(reply.header('Retry-After', '10'), 503, String(ERR.UNKNOWN));
    }
    req.log.error({ err }, 'storage request failed');
    return json(reply, 500, String(ERR.UNKNOWN));
  });

  const methodNotAllowed = (path: string, allowed: readonly string[]) =>
    app.route({
      method: ALL_METHODS.filter((m) => !allowed.includes(m)),
      url: path,
      handler: async (_req, reply) => reply.code(405).header('Allow', allowed.join(', ')).send(),
    });

  // ---- info ----

  app.get('/1.5/:uid/info/configuration', async (_req, reply) => {
    const body = {
      max_post_records: limits.maxPostRecords,
      max_post_bytes: limits.maxPostBytes,
      max_record_payload_bytes: limits.maxRecordPayloadBytes,
      max_request_bytes: limits.maxRequestBytes,
      max_total_records: limits.maxTotalRecords,
      max_total_bytes: limits.maxTotalBytes,
      ...(limits.quotaBytes > 0 ? { max_quota_limit: limits.quotaBytes } : {}),
    };
    return json(lastModified(reply, 0), 200, JSON.stringify(body));
  });

  app.get('/1.5/:uid/info/collections', async (req, reply) => {
    const info = await service.infoCollections(uidOf(req), preconditions(req));
    const body = `{${info.collections.map(([name, ms]) => `${JSON.stringify(name)}:${formatTs(ms)}`).join(',')}}`;
    reply.header('X-Weave-Records', String(info.collections.length));
    return json(lastModified(stamp(reply, info.lastModified), info.lastModified), 200, body);
  });

  app.get('/1.5/:uid/info/collection_counts', async (req, reply) => {
    const info = await service.infoUsage(uidOf(req), preconditions(req));
    const body = JSON.stringify(Object.fromEntries(info.collections.map((c) => [c.name, c.count])));
    reply.header('X-Weave-Records', String(info.collections.length));
    return json(lastModified(stamp(reply, info.lastModified), info.lastModified), 200, body);
  });

  app.get('/1.5/:uid/info/collection_usage', async (req, reply) => {
    const info = await service.infoUsage(uidOf(req), preconditions(req));
    const body = JSON.stringify(Object.fromEntries(info.collections.map((c) => [c.name, c.bytes / 1024])));
    reply.header('X-Weave-Records', String(info.collections.length));
    return json(lastModified(stamp(reply, info.lastModified), info.lastModified), 200, body);
  });

  app.get('/1.5/:uid/info/quota', async (req, reply) => {
    const info = await service.infoUsage(uidOf(req), preconditions(req));
    const used = info.collections.reduce((sum, c) => sum + c.bytes, 0);
    const body = JSON.stringify([used / 1024, limits.quotaBytes > 0 ? limits.quotaBytes / 1024 : null]);
    return json(lastModified(stamp(reply, info.lastModified), info.lastModified), 200, body);
  });

  for (const path of ['/1.5/:uid/info/configuration', '/1.5/:uid/info/collections', '/1.5/:uid/info/collection_counts', '/1.5/:uid/info/collection_usage', '/1.5/:uid/info/quota']) {
    methodNotAllowed(path, ['GET']);
  }

  // ---- whole storage ----

  const deleteStorage = async (req: FastifyRequest, reply: FastifyReply) => {
    const t = await service.deleteStorage(uidOf(req), preconditions(req));
    return json(stampWrite(reply, t), 200, '{}');
  };
  app.delete('/1.5/:uid', deleteStorage);
  app.delete('/1.5/:uid/storage', deleteStorage);
  methodNotAllowed('/1.5/:uid', ['DELETE']);
  methodNotAllowed('/1.5/:uid/storage', ['DELETE']);

  // ---- collections ----

  app.get('/1.5/:uid/storage/:collection', async (req, reply) => {
    const format = negotiate(req.headers.accept);
    if (!format) throw new StorageError(406, ERR.UNKNOWN, 'unacceptable Accept');
    const q = collectionQuery(req);
    const page = await service.getCollection(uidOf(req), (req.params as Params).collection!, q, preconditions(req));
    const parts = page.items.map((b) => (q.full ? bsoJson(b) : JSON.stringify(b.id)));
    reply.header('X-Weave-Records', String(parts.length));
    if (page.next) reply.header('X-Weave-Next-Offset', encodeOffset(page.next));
    lastModified(stamp(reply, page.lastModified), page.lastModified);
    if (format === 'newlines') return reply.code(200).type('application/newlines').send(parts.map((p) => `${p}\n`).join(''));
    return json(reply, 200, `[${parts.join(',')}]`);
  });

  app.post('/1.5/:uid/storage/:collection', async (req, reply) => {
    const uid = uidOf(req);
    const collection = (req.params as Params).collection!;
    checkSizeHeaders(req, limits);
    const mode = batchMode(req);
    const pre = preconditions(req);
    const { items, failed } = postBody(req, collection, limits);
    const result = await service.postRecords(uid, collection, items, failed, mode, pre);
    await quotaHeader(reply, uid);
    if (result.batch !== undefined) {
      // Staging changes nothing visible: the collection keeps its time.
      lastModified(stamp(reply, result.lastModified), result.lastModified);
      return json(reply, 202, JSON.stringify({ batch: result.batch, success: result.success, failed: result.failed }));
    }
    stampWrite(reply, result.modified!);
    const body = `{"modified":${formatTs(result.modified!)},"success":${JSON.stringify(result.success)},"failed":${JSON.stringify(result.failed)}}`;
    return json(reply, 200, body);
  });

  app.delete('/1.5/:uid/storage/:collection', async (req, reply) => {
    const uid = uidOf(req);
    const collection = (req.params as Params).collection!;
    const idsParam = param(req, 'ids');
    let t: number;
    if (idsParam !== undefined) {
      const ids = parseIds(idsParam);
      if (ids.length === 0) throw new StorageError(400, ERR.UNKNOWN, 'empty ids');
      t = await service.deleteRecords(uid, collection, ids, preconditions(req));
    } else {
      t = await service.deleteCollection(uid, collection, preconditions(req));
    }
    return json(stampWrite(reply, t), 200, `{"modified":${formatTs(t)}}`);
  });
  methodNotAllowed('/1.5/:uid/storage/:collection', ['GET', 'POST', 'DELETE']);

  // ---- records ----

  app.get('/1.5/:uid/storage/:collection/:id', async (req, reply) => {
    const { collection, id } = req.params as Params;
    const record = await service.getRecord(uidOf(req), collection!, id!, preconditions(req));
    return json(lastModified(stamp(reply, record.modified), record.modified), 200, bsoJson(record));
  });

  app.put('/1.5/:uid/storage/:collection/:id', async (req, reply) => {
    const uid = uidOf(req);
    const { collection, id } = req.params as Params;
    const pre = preconditions(req);
    const item = putBody(req, id!, collection!, limits);
    const t = await service.putRecord(uid, collection!, item, pre);
    await quotaHeader(reply, uid);
    return json(stampWrite(reply, t), 200, formatTs(t));
  });

  app.delete('/1.5/:uid/storage/:collection/:id', async (req, reply) => {
    const { collection, id } = req.params as Params;
    const t = await service.deleteRecord(uidOf(req), collection!, id!, preconditions(req));
    return json(stampWrite(reply, t), 200, `{"modified":${formatTs(t)}}`);
  });
  methodNotAllowed('/1.5/:uid/storage/:collection/:id', ['GET', 'PUT', 'DELETE']);

  /** With a quota set, warn clients once less than 1 MB is left (KB, two decimals). */
  async function quotaHeader(reply: FastifyReply, uid: number): Promise<void> {
    if (limits.quotaBytes <= 0) return;
    const used = await service.usedBytes(uid);
    const remaining = limits.quotaBytes - used;
    if (remaining < QUOTA_WARNING_BYTES) reply.header('X-Weave-Quota-Remaining', (Math.max(0, remaining) / 1024).toFixed(2));
  }
}

function isBusy(err: Error & { code?: string }): boolean {
  return err.code === 'SQLITE_BUSY' || err.code === '40001' || err.code === '40P01' || err.code === '55P03';
}
