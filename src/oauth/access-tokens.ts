import { randomBytes } from 'node:crypto';
import { exportJWK, generateKeyPair, importJWK, jwtVerify, SignJWT, type JWK } from 'jose';
import type { Db } from '../db/index.js';
import { ensureSecret } from '../db/secrets.js';

// OAuth access tokens: RS256 JWTs in the RFC 9068 shape Mozilla's accounts server issues and
// syncstorage-rs's tokenserver verifies (fxa-auth.md 6.1). They are not stored; their lifetime
// is short (at most MAX_TTL_SECONDS) and they die with it.

export const MAX_TTL_SECONDS = 6 * 3600;
const SIGNING_KEY = 'oauth_signing_key';

export interface AccessTokenClaims {
  /** FxA uid (32 hex). */
  uid: string;
  clientId: string;
  scope: string[];
  /** verifierSetAt (ms) when the token was issued. */
  generation: number;
  profileChangedAt: number;
  /** Seconds. */
  iat: number;
  exp: number;
  jti: string;
}

export interface IssueInput {
  uid: string;
  clientId: string;
  scope: string[];
  ttlSeconds: number;
  generation: number;
  profileChangedAt: number;
}

interface StoredKey {
  jwk: JWK;
  kid: string;
  createdAt: number;
}

export class AccessTokens {
  private constructor(
    private readonly issuer: string,
    private readonly key: StoredKey,
    private readonly privateKey: CryptoKey,
    private readonly publicKey: CryptoKey,
  ) {}

  /** Load the signing key, generating and storing it on first start. */
  static async open(db: Db, issuer: string): Promise<AccessTokens> {
    const existing = await db.selectFrom('foxden_secrets').select('value').where('name', '=', SIGNING_KEY).executeTakeFirst();
    let generated: string | undefined;
    if (!existing) {
      const { privateKey } = await generateKeyPair('RS256', { modulusLength: 2048, extractable: true });
      const createdAt = Math.floor(Date.now() / 1000);
      const stored: StoredKey = { jwk: await exportJWK(privateKey), kid: `${createdAt}-${randomBytes(6).toString('hex')}`, createdAt };
      generated = JSON.stringify(stored);
    }
    // Two processes racing on first start agree on the one that was stored first.
    const value = existing?.value ?? (await ensureSecret(db, SIGNING_KEY, () => generated!));
    const key = JSON.parse(value) as StoredKey;
    const privateKey = (await importJWK({ ...key.jwk, alg: 'RS256' }, 'RS256')) as CryptoKey;
    const { d: _d, p: _p, q: _q, dp: _dp, dq: _dq, qi: _qi, ...pub } = key.jwk;
    const publicKey = (await importJWK({ ...pub, alg: 'RS256' }, 'RS256')) as CryptoKey;
    return new AccessTokens(issuer, key, privateKey, publicKey);
  }

  /** The public half, as /v1/jwks publishes it. */
  jwks(): { keys: Record<string, unknown>[] } {
    const { kty, n, e } = this.key.jwk;
    return { keys: [{ kty, alg: 'RS256', use: 'sig', kid: this.key.kid, n, e, 'fxa-createdAt': this.key.createdAt }] };
  }

  async issue(input: IssueInput): Promise<{ token: string; expiresIn: number; claims: AccessTokenClaims }> {
    const ttl = Math.max(1, Math.min(MAX_TTL_SECONDS, Math.floor(input.ttlSeconds)));
    const iat = Math.floor(Date.now() / 1000);
    const claims: AccessTokenClaims = {
      uid: input.uid,
      clientId: input.clientId,
      scope: input.scope,
      generation: input.generation,
      profileChangedAt: input.profileChangedAt,
      iat,
      exp: iat + ttl,
      jti: randomBytes(32).toString('hex'),
    };
    const token = await new SignJWT({
      client_id: claims.clientId,
      scope: claims.scope.join(' '),
      'fxa-generation': claims.generation,
      'fxa-profileChangedAt': claims.profileChangedAt,
    })
      .setProtectedHeader({ alg: 'RS256', typ: 'at+JWT', kid: this.key.kid })
      .setIssuer(this.issuer)
      .setSubject(claims.uid)
      .setAudience(claims.clientId)
      .setIssuedAt(iat)
      .setExpirationTime(claims.exp)
      .setJti(claims.jti)
      .sign(this.privateKey);
    return { token, expiresIn: ttl, claims };
  }

  /** The claims of a token this server signed and that has not expired; undefined otherwise. */
  async verify(token: string): Promise<AccessTokenClaims | undefined> {
    if (typeof token !== 'string' || token.length > 4096 || token.split('.').length !== 3) return undefined;
    try {
      const { payload, protectedHeader } = await jwtVerify(token, this.publicKey, {
        algorithms: ['RS256'],
        issuer: this.issuer,
        typ: 'at+JWT',
      });
      if (protectedHeader.kid !== this.key.kid) return undefined;
      const scope = typeof payload.scope === 'string' ? payload.scope.split(/[\s,]+/).filter(Boolean) : [];
      if (typeof payload.sub !== 'string' || typeof payload.client_id !== 'string') return undefined;
      return {
        uid: payload.sub,
        clientId: payload.client_id,
        scope,
        generation: Number(payload['fxa-generation'] ?? 0),
        profileChangedAt: Number(payload['fxa-profileChangedAt'] ?? 0),
        iat: payload.iat ?? 0,
        exp: payload.exp ?? 0,
        jti: String(payload.jti ?? ''),
      };
    } catch {
      return undefined;
    }
  }
}
