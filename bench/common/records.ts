import { randomBytes } from 'node:crypto';

// Sync records for the benches to upload: a seeded PRNG, so runs that are compared draw the
// same decisions, and ids and payloads like Firefox's.

/** mulberry32: small, fast, seeded; the Foxden and bare runs draw the same decisions. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const ID_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

/** A 12-character base64url record id, like Firefox's. */
export function recordId(rng: () => number): string {
  let id = '';
  for (let i = 0; i < 12; i++) id += ID_ALPHABET[Math.floor(rng() * 64)];
  return id;
}

/** Random base64url text that payloads are cut from (no JSON escaping needed). */
const PAYLOAD_SOURCE = randomBytes(24 * 1024).toString('base64url');

export function payloadOf(rng: () => number, length: number): string {
  const n = Math.min(length, PAYLOAD_SOURCE.length);
  const start = Math.floor(rng() * (PAYLOAD_SOURCE.length - n));
  return PAYLOAD_SOURCE.slice(start, start + n);
}

/** A JSON array of n records with fresh ids; payloads are base64url, so no escaping. */
export function recordsBody(rng: () => number, n: number, length: (rng: () => number) => number): string {
  const parts: string[] = [];
  for (let i = 0; i < n; i++) parts.push(`{"id":"${recordId(rng)}","payload":"${payloadOf(rng, length(rng))}"}`);
  return `[${parts.join(',')}]`;
}
