import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { base64urlPadded, decodeBase64url } from './base64.js';
import { hkdfSha256 } from './hkdf.js';

// Tokens compatible with mozilla-services/tokenlib, as the tokenserver hands them out and
// storage nodes verify them (sync-storage.md 1.11).

const SIGNING_INFO = 'services.mozilla.com/tokenlib/v1/signing';
const DERIVE_INFO = 'services.mozilla.com/tokenlib/v1/derive/';
const HMAC_LENGTH = 32;
const EMPTY_SALT = Buffer.alloc(0);

export interface TokenPayload {
  uid: number;
  node: string;
  expires: number;
  salt: string;
  fxa_uid?: string;
  fxa_kid?: string;
  hashed_fxa_uid?: string;
  hashed_device_id?: string;
  tokenserver_origin?: string;
  [extra: string]: unknown;
}

export interface Token {
  id: string;
  key: string;
  payload: TokenPayload;
}

export function signingKey(secret: string): Buffer {
  return hkdfSha256(Buffer.from(secret, 'utf8'), EMPTY_SALT, SIGNING_INFO, 32);
}

/** The Hawk key a token carries: HKDF(secret, salt = payload.salt, info = derive/ + id). */
export function deriveTokenKey(secret: string, tokenId: string, salt: string): string {
  const key = hkdfSha256(Buffer.from(secret, 'utf8'), Buffer.from(salt, 'ascii'), DERIVE_INFO + tokenId, 32);
  return base64urlPadded(key);
}

/**
 * Sign a payload. The JSON text is written in the order the caller's object has, the way
 * syncstorage-rs writes it: node, fxa_kid, fxa_uid, hashed_device_id, hashed_fxa_uid,
 * expires, uid, tokenserver_origin, salt.
 */
export function makeToken(secret: string, payload: Omit<TokenPayload, 'salt'> & { salt?: string }): Token {
  const full = { ...payload, salt: payload.salt ?? randomBytes(3).toString('hex') } as TokenPayload;
  const body = Buffer.from(JSON.stringify(full), 'utf8');
  const mac = createHmac('sha256', signingKey(secret)).update(body).digest();
  const id = base64urlPadded(Buffer.concat([body, mac]));
  return { id, key: deriveTokenKey(secret, id, full.salt), payload: full };
}

/**
 * Verifies tokens against every configured secret (signing keys computed once per secret) and
 * remembers the last few thousand verified tokens, since a client uses one token for many
 * requests.
 */
export class TokenVerifier {
  private readonly keys: { secret: string; signing: Buffer }[];
  private readonly recent = new Map<string, { payload: TokenPayload; key: string }>();

  constructor(
    secrets: readonly string[],
    private readonly cacheSize = 2000,
  ) {
    if (secrets.length === 0) throw new Error('at least one token secret is needed');
    this.keys = secrets.map((secret) => ({ secret, signing: signingKey(secret) }));
  }

  /** Sign with the newest secret (the last one). */
  sign(payload: Omit<TokenPayload, 'salt'> & { salt?: string }): Token {
    return makeToken(this.keys[this.keys.length - 1]!.secret, payload);
  }

  /**
   * Check the HMAC of the exact received bytes against every secret, then parse the payload.
   * Returns undefined for anything that is not a valid token; expiry is the caller's business.
   */
  verify(tokenId: string): { payload: TokenPayload; key: string } | undefined {
    const known = this.recent.get(tokenId);
    if (known) return known;
    const result = this.check(tokenId);
    if (result) {
      if (this.recent.size >= this.cacheSize) this.recent.delete(this.recent.keys().next().value!);
      this.recent.set(tokenId, result);
    }
    return result;
  }

  private check(tokenId: string): { payload: TokenPayload; key: string } | undefined {
    const raw = decodeBase64url(tokenId);
    if (!raw || raw.length <= HMAC_LENGTH) return undefined;
    const body = raw.subarray(0, raw.length - HMAC_LENGTH);
    const mac = raw.subarray(raw.length - HMAC_LENGTH);
    for (const { secret, signing } of this.keys) {
      const expected = createHmac('sha256', signing).update(body).digest();
      if (!timingSafeEqual(expected, mac)) continue;
      const payload = parsePayload(body);
      if (!payload) return undefined;
      return { payload, key: deriveTokenKey(secret, tokenId, payload.salt) };
    }
    return undefined;
  }
}

function parsePayload(body: Buffer): TokenPayload | undefined {
  let value: unknown;
  try {
    value = JSON.parse(body.toString('utf8'));
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
  const p = value as Record<string, unknown>;
  if (typeof p.uid !== 'number' || !Number.isSafeInteger(p.uid) || p.uid < 0) return undefined;
  if (typeof p.node !== 'string') return undefined;
  if (typeof p.expires !== 'number' || !Number.isFinite(p.expires)) return undefined;
  if (typeof p.salt !== 'string') return undefined;
  for (const optional of ['fxa_uid', 'fxa_kid', 'hashed_fxa_uid', 'hashed_device_id', 'tokenserver_origin']) {
    if (p[optional] !== undefined && typeof p[optional] !== 'string') return undefined;
  }
  return p as TokenPayload;
}
