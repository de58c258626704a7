import type { FastifyRequest } from 'fastify';
import { computeMac, macMatches, NonceCache, parseHawkHeader, payloadHash } from '../crypto/hawk.js';
import type { TokenPayload, TokenVerifier } from '../crypto/tokenlib.js';
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
  private readonly prefix: string;

  constructor(private readonly options: StorageAuthOptions) {
    this.nonces = new NonceCache(options.skewSeconds);
    this.prefix = options.publicUrl ? options.publicUrl.pathname.replace(/\/+$/, '') : '';
  }

  /** Host and port the client signed: the public URL's, or the request's Host header. */
  private origin(req: FastifyRequest): { host: string; port: number } {
    const pub = this.options.publicUrl;
    if (pub) {
      return { host: pub.hostname, port: pub.port ? Number(pub.port) : pub.protocol === 'https:' ? 443 : 80 };
    }
    const hostHeader = req.headers.host ?? '';
    const m = /^(\[[^\]]+\]|[^:]+)(?::(\d+))?$/.exec(hostHeader);
    const secure = req.protocol === 'https';
    return { host: m?.[1] ?? '', port: m?.[2] ? Number(m[2]) : secure ? 443 : 80 };
  }

  /** The request target as the client sent it, with the public path prefix in front. */
  resource(req: FastifyRequest): string {
    const raw = req.originalUrl;
    if (!this.prefix || raw === this.prefix || raw.startsWith(`${this.prefix}/`)) return raw;
    return this.prefix + raw;
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
    const { host, port } = this.origin(req);
    const expected = computeMac(token.key, { method: req.method, resource: this.resource(req), host, port }, attrs);
    if (!macMatches(expected, attrs.mac)) throw unauthorized('invalid MAC');
    // The first 16 characters (96 bits) of the MAC identify a request well enough to spot a replay.
    if (!this.nonces.check(ts, attrs.mac.slice(0, 16), Math.floor(now))) throw unauthorized('replayed request');
    return { payload: token.payload, hash: attrs.hash };
  }

  /** When the client signed a payload hash, it must match the body. */
  checkPayload(credentials: StorageCredentials, contentType: string | undefined, body: string | undefined): void {
    if (credentials.hash === undefined || body === undefined) return;
    const expected = payloadHash(contentType ?? '', body);
    if (!macMatches(expected, credentials.hash)) throw unauthorized('payload hash mismatch');
  }
}
