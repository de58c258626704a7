import type { FastifyRequest } from 'fastify';
import type { StorageLimits } from '../config.js';
import { decodeBase64url, base64urlNoPad } from '../crypto/base64.js';
import { BSO_ID, checkBso, isKnownBadPayload, type BsoInput } from './bso.js';
import { ERR, StorageError, badRequest, invalidBso, tooLarge } from './errors.js';
import type { BatchMode, CollectionQuery, Offset, Preconditions, Sort } from './service.js';
import { parseTs } from './timestamps.js';

// Parsing what a storage request carries: query parameters, precondition and size headers,
// content types and bodies. Every problem becomes the numeric error the protocol defines.

export const MAX_IDS = 100;

type Query = Record<string, string | string[] | undefined>;

/** One query parameter; repeated parameters take the last value. */
export function param(req: FastifyRequest, name: string): string | undefined {
  const v = (req.query as Query)[name];
  return Array.isArray(v) ? v[v.length - 1] : v;
}

function header(req: FastifyRequest, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[v.length - 1] : v;
}

export function preconditions(req: FastifyRequest): Preconditions {
  const since = header(req, 'x-if-modified-since');
  const unmodified = header(req, 'x-if-unmodified-since');
  if (since !== undefined && unmodified !== undefined) throw badRequest('X-If-Modified-Since and X-If-Unmodified-Since together');
  const p: Preconditions = {};
  if (since !== undefined) {
    p.ifModifiedSince = parseTs(since);
    if (p.ifModifiedSince === undefined) throw badRequest('invalid X-If-Modified-Since');
  }
  if (unmodified !== undefined) {
    p.ifUnmodifiedSince = parseTs(unmodified);
    if (p.ifUnmodifiedSince === undefined) throw badRequest('invalid X-If-Unmodified-Since');
  }
  return p;
}

/** Comma-separated ids (already percent-decoded), trimmed, empties dropped, at most 100. */
export function parseIds(text: string): string[] {
  const ids = text
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
  if (ids.length > MAX_IDS) throw badRequest(`more than ${MAX_IDS} ids`);
  for (const id of ids) if (!BSO_ID.test(id)) throw badRequest('invalid id in ids');
  return [...new Set(ids)];
}

function nonNegativeInt(text: string, name: string): number {
  if (!/^\d{1,15}$/.test(text.trim())) throw badRequest(`invalid ${name}`);
  return Number(text.trim());
}

export function encodeOffset(o: Offset): string {
  return 'skip' in o ? String(o.skip) : `${o.modified}:${base64urlNoPad(Buffer.from(o.id, 'utf8'))}`;
}

function parseOffset(text: string, sort: Sort): Offset {
  if (/^\d{1,15}$/.test(text)) return { skip: Number(text) };
  const m = /^(\d{1,15}):([A-Za-z0-9_-]{1,88})$/.exec(text);
  const id = m ? decodeBase64url(m[2]!)?.toString('utf8') : undefined;
  if (!m || sort === 'index' || id === undefined || !BSO_ID.test(id)) throw badRequest('invalid offset');
  return { modified: Number(m[1]), id };
}

export function collectionQuery(req: FastifyRequest): CollectionQuery {
  const q: CollectionQuery = { full: param(req, 'full') !== undefined };
  const ids = param(req, 'ids');
  if (ids !== undefined) q.ids = parseIds(ids);
  for (const name of ['newer', 'older'] as const) {
    const v = param(req, name);
    if (v === undefined) continue;
    const ms = parseTs(v);
    if (ms === undefined) throw badRequest(`invalid ${name}`);
    q[name] = ms;
  }
  const limit = param(req, 'limit');
  if (limit !== undefined) q.limit = nonNegativeInt(limit, 'limit');
  const sort = param(req, 'sort');
  if (sort !== undefined) {
    if (sort !== 'newest' && sort !== 'oldest' && sort !== 'index') throw badRequest('invalid sort');
    q.sort = sort;
  }
  const offset = param(req, 'offset');
  if (offset !== undefined) q.offset = parseOffset(offset, q.sort ?? 'newest');
  return q;
}

/** Which output format the Accept header asks for: JSON, newline-separated JSON, or none we make. */
export function negotiate(accept: string | undefined): 'json' | 'newlines' | undefined {
  if (!accept || accept.trim() === '') return 'json';
  const ranges = accept.split(',').map((part, index) => {
    const [type, ...params] = part.split(';').map((s) => s.trim().toLowerCase());
    let q = 1;
    for (const p of params) {
      const m = /^q=([0-9.]+)$/.exec(p);
      if (m) q = Number(m[1]);
    }
    return { type: type ?? '', q: Number.isFinite(q) ? q : 0, index };
  });
  ranges.sort((a, b) => b.q - a.q || a.index - b.index);
  for (const r of ranges) {
    if (r.q <= 0) continue;
    if (r.type === 'application/json' || r.type === '*/*' || r.type === 'application/*') return 'json';
    if (r.type === 'application/newlines') return 'newlines';
    if (r.type === 'text/plain' || r.type === 'text/*') return undefined;
  }
  return undefined;
}

function mediaType(req: FastifyRequest): string {
  return (req.headers['content-type'] ?? 'application/json').split(';')[0]!.trim().toLowerCase();
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw badRequest('body is not valid JSON', ERR.JSON_PARSE);
  }
}

function bodyText(req: FastifyRequest): string {
  return typeof req.body === 'string' ? req.body : '';
}

/** The single record object of a PUT (JSON or text/plain). */
export function putBody(req: FastifyRequest, id: string, collection: string, limits: StorageLimits): BsoInput {
  const type = mediaType(req);
  if (type !== 'application/json' && type !== 'text/plain') throw new StorageError(415, ERR.UNKNOWN, `unsupported content type ${type}`);
  const check = checkBso(parseJson(bodyText(req)), limits.maxRecordPayloadBytes);
  if (!check.ok) throw invalidBso(check.reason);
  if (isKnownBadPayload(collection, check.bso.payload)) throw invalidBso('known-bad payload');
  return { ...check.bso, id };
}

/** The raw elements of a POST body, in JSON-array or newline form. */
function postElements(req: FastifyRequest): unknown[] {
  const type = mediaType(req);
  const text = bodyText(req);
  if (type === 'application/json' || type === 'text/plain') {
    const value = parseJson(text);
    if (!Array.isArray(value)) throw invalidBso('body must be a JSON array of records');
    return value;
  }
  if (type === 'application/newlines') {
    if (text === '') return [];
    const lines = (text.endsWith('\n') ? text.slice(0, -1) : text).split('\n');
    return lines.map((line) => {
      if (line.trim() === '') throw invalidBso('blank line in newline-separated body');
      return parseJson(line);
    });
  }
  throw new StorageError(415, ERR.UNKNOWN, `unsupported content type ${type}`);
}

export interface PostBody {
  items: BsoInput[];
  failed: Record<string, string>;
}

/**
 * Parse and validate a POST (sync-storage.md 2.10): whole-request errors throw; invalid
 * records and those past the size or count limits land in `failed`.
 */
export function postBody(req: FastifyRequest, collection: string, limits: StorageLimits): PostBody {
  const elements = postElements(req);
  const seen = new Set<string>();
  for (const el of elements) {
    if (typeof el !== 'object' || el === null || Array.isArray(el)) throw invalidBso('every record must be an object');
    const id = (el as { id?: unknown }).id;
    if (typeof id !== 'string') throw invalidBso('every record needs a string id');
    if (seen.has(id)) throw invalidBso(`duplicate id ${id}`);
    seen.add(id);
    const payload = (el as { payload?: unknown }).payload;
    if (typeof payload === 'string' && isKnownBadPayload(collection, payload)) throw invalidBso('known-bad payload');
  }
  const items: BsoInput[] = [];
  const failed: Record<string, string> = {};
  let bytes = 0;
  for (const el of elements) {
    const id = (el as { id: string }).id;
    const check = checkBso(el, Number.POSITIVE_INFINITY);
    if (!check.ok) {
      failed[id] = check.reason;
      continue;
    }
    bytes += check.payloadBytes;
    if (check.payloadBytes > limits.maxRecordPayloadBytes || bytes > limits.maxPostBytes) {
      failed[id] = 'retry bytes';
      continue;
    }
    if (items.length >= limits.maxPostRecords) {
      failed[id] = 'retry bso';
      continue;
    }
    items.push(check.bso);
  }
  return { items, failed };
}

/** X-Weave-Records / -Bytes / -Total-Records / -Total-Bytes: unsigned integers within the limits. */
export function checkSizeHeaders(req: FastifyRequest, limits: StorageLimits): void {
  const rules: [string, number][] = [
    ['x-weave-records', limits.maxPostRecords],
    ['x-weave-bytes', limits.maxPostBytes],
    ['x-weave-total-records', limits.maxTotalRecords],
    ['x-weave-total-bytes', limits.maxTotalBytes],
  ];
  for (const [name, max] of rules) {
    const v = header(req, name);
    if (v === undefined) continue;
    if (!/^\d{1,15}$/.test(v.trim())) throw badRequest(`invalid ${name}`);
    if (Number(v) > max) throw tooLarge(`${name} over the limit`);
  }
}

/** The batch and commit query parameters (sync-storage.md 2.11). */
export function batchMode(req: FastifyRequest): BatchMode {
  const batch = param(req, 'batch');
  const commit = param(req, 'commit');
  if (commit !== undefined && commit.toLowerCase() !== 'true') throw badRequest('commit must be true');
  if (commit !== undefined && batch === undefined) throw badRequest('commit without batch');
  if (batch === undefined) return { kind: 'none' };
  const start = batch === '' || batch.toLowerCase() === 'true';
  if (start) return commit !== undefined ? { kind: 'none' } : { kind: 'start' };
  return commit !== undefined ? { kind: 'commit', id: batch } : { kind: 'append', id: batch };
}
