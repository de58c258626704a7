import type { FastifyRequest } from 'fastify';
import { computeMac, macMatches, NonceCache, parseHawkHeader, payloadHash } from '../crypto/hawk.js';
import type { TokenPayload, TokenVerifier } from '../crypto/tokenlib.js';
import { signedOrigin, signedResource } from '../public-url.js';
import { unauthorized } from './errors.js';

// Hawk with tokenserver tokens (sync-storage.md 2.2).

export interface StorageAuthOptions {
  tokens: TokenVerifier;
  skewSeconds: number;
  expiredTokenGraceSeconds: number;
  /** Host, port and path prefix the client used; undefined = read them from each request. */
  publicUrl: URL | undefined;
}

export interface StorageCredentials {
  payload: TokenPayload;
  /** Payload hash the client signed, checked against the body once it is read. */
  hash?: string;
}

export class StorageAuthenticator {
  private readonly nonces: NonceCache;

  constructor(private readonly options: StorageAuthOptions) {
    this.nonces = new NonceCache(options.skewSeconds);
  }

  /**
   * Verify the Authorization header. `infoCollections` allows a token that expired less than
   * the grace period ago (Firefox asks info/collections first and fetches a new token on 401).
   */
  authenticate(req: FastifyRequest, infoCollections: boolean): StorageCredentials {
    const attrs = parseHawkHeader(req.headers.authorization);
    if (!attrs) throw unauthorized('missing or malformed Hawk header');
    const token = this.options.tokens.verify(attrs.id);
    if (!token) throw unauthorized('invalid token');
    const now = Date.now() / 1000;
    const grace = infoCollections ? this.options.expiredTokenGraceSeconds : 0;
    if (Math.round(token.payload.expires) + grace <= now) throw unauthorized('expired token');
    const ts = Number(attrs.ts);
    if (Math.abs(ts - now) > this.options.skewSeconds) throw unauthorized('timestamp outside the allowed clock skew');
    const { host, port } = signedOrigin(this.options.publicUrl, req);
    const resource = signedResource(this.options.publicUrl, req);
    const expected = computeMac(token.key, { method: req.method, resource, host, port }, attrs);
    if (!macMatches(expected, attrs.mac)) throw unauthorized('invalid MAC');
    // The first 16 characters (96 bits) of the MAC identify a request well enough to spot a replay.
    // Copied, not sliced: a slice keeps its whole parent string alive (here the Authorization
    // header, about 600 bytes), and the cache holds its keys for the whole skew window.
    const replayKey = Buffer.from(attrs.mac.slice(0, 16), 'latin1').toString('latin1');
    if (!this.nonces.check(ts, replayKey, Math.floor(now))) throw unauthorized('replayed request');
    return { payload: token.payload, hash: attrs.hash };
  }

  /** When the client signed a payload hash, it must match the body. */
  checkPayload(credentials: StorageCredentials, contentType: string | undefined, body: string | undefined): void {
    if (credentials.hash === undefined || body === undefined) return;
    const expected = payloadHash(contentType ?? '', body);
    if (!macMatches(expected, credentials.hash)) throw unauthorized('payload hash mismatch');
  }
}
