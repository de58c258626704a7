// BSO validation (sync-storage.md 2.4) and the wire format of records going out.

import { formatTs } from './timestamps.js';

export const BSO_ID = /^[ -~]{1,64}$/;
export const COLLECTION_NAME = /^[a-zA-Z0-9._-]{1,32}$/;
export const MAX_SORTINDEX = 999_999_999;
export const MAX_TTL = 999_999_999;
/** A write without ttl never expires: rs stores now + 2,100,000,000 s. */
export const NO_EXPIRY_MS = 2_100_000_000_000;
const ALLOWED_FIELDS = new Set(['id', 'sortindex', 'payload', 'ttl', 'modified', 'collection']);
const KNOWN_BAD_CRYPTO_PAYLOAD = /"IV":\s*"AAAAAAAAAAAAAAAAAAAAAA=="/;

/** A validated incoming record; undefined fields were not sent. ttl null = sent as null (never expires). */
export interface BsoInput {
  id: string;
  payload?: string;
  sortindex?: number;
  ttl?: number | null;
}

/** A stored record going out. */
export interface BsoRecord {
  id: string;
  modified: number;
  payload: string;
  sortindex: number | null;
}

export type BsoCheck = { ok: true; bso: BsoInput; payloadBytes: number } | { ok: false; reason: string };

/** Validate one record object. The id is checked only when present (PUT takes it from the URL). */
export function checkBso(value: unknown, maxPayloadBytes: number): BsoCheck {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return { ok: false, reason: 'invalid bso: not an object' };
  const obj = value as Record<string, unknown>;
  for (const key of Object.keys(obj)) {
    if (!ALLOWED_FIELDS.has(key)) return { ok: false, reason: `unknown field ${key}` };
  }
  const bso: BsoInput = { id: '' };
  if (obj.id !== undefined) {
    if (typeof obj.id !== 'string' || !BSO_ID.test(obj.id)) return { ok: false, reason: 'invalid id' };
    bso.id = obj.id;
  }
  if (obj.sortindex !== undefined && obj.sortindex !== null) {
    const s = obj.sortindex;
    if (typeof s !== 'number' || !Number.isInteger(s) || s > MAX_SORTINDEX || s < -MAX_SORTINDEX) {
      return { ok: false, reason: 'invalid sortindex' };
    }
    bso.sortindex = s;
  }
  let payloadBytes = 0;
  if (obj.payload !== undefined && obj.payload !== null) {
    if (typeof obj.payload !== 'string') return { ok: false, reason: 'payload not a string' };
    payloadBytes = Buffer.byteLength(obj.payload, 'utf8');
    if (payloadBytes > maxPayloadBytes) return { ok: false, reason: 'payload too large' };
    bso.payload = obj.payload;
  }
  if (obj.ttl !== undefined) {
    const t = obj.ttl;
    if (t === null) bso.ttl = null;
    else if (typeof t !== 'number' || !Number.isInteger(t) || t < 0 || t > MAX_TTL) return { ok: false, reason: 'invalid ttl' };
    else bso.ttl = t;
  }
  return { ok: true, bso, payloadBytes };
}

export function isKnownBadPayload(collection: string, payload: string | undefined): boolean {
  return collection === 'crypto' && payload !== undefined && KNOWN_BAD_CRYPTO_PAYLOAD.test(payload);
}

/** Expiry time for a ttl given at time `t`. */
export function expiryFor(t: number, ttl: number | null | undefined): number {
  return ttl === undefined || ttl === null ? t + NO_EXPIRY_MS : t + ttl * 1000;
}

/** Serialize a record with `modified` as a two-decimal number, keys in upstream order. */
export function bsoJson(b: BsoRecord): string {
  const sort = b.sortindex === null ? '' : `,"sortindex":${b.sortindex}`;
  return `{"id":${JSON.stringify(b.id)},"modified":${formatTs(b.modified)},"payload":${JSON.stringify(b.payload)}${sort}}`;
}
