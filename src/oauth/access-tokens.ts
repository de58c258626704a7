import { randomBytes } from 'node:crypto';
import { exportJWK, generateKeyPair, importJWK, jwtVerify, SignJWT, type JWK } from 'jose';
import type { Db } from '../db/index.js';
import { ensureSecret } from '../db/secrets.js';

// OAuth access tokens: RS256 JWTs in the RFC 9068 shape Mozilla's accounts server issues and
// syncstorage-rs's tokenserver verifies (fxa-auth.md 6.1). They are not stored; their lifetime
// is short (at most MAX_TTL_SECONDS) and they die with it.
//
// The signing key is generated on first start and kept in the database. `foxden
// rotate-oauth-key` makes a new one; the previous key stays published and accepted, so tokens
// it signed live out their lifetime. Running processes sign with the new key within
// SIGNING_KEY_MAX_AGE_MS, accept it as soon as they meet it, and stop accepting a key dropped
// by the next rotation within SIGNING_KEY_MAX_AGE_MS.

export const MAX_TTL_SECONDS = 6 * 3600;
const CURRENT = 'oauth_signing_key';
const PREVIOUS = 'oauth_previous_signing_key';
/** How often an unknown kid may make a process re-read the keys (another process rotated them). */
const RELOAD_INTERVAL_MS = 30_000;
/** How long a process uses the keys it loaded (to sign, and to accept) before reading them again. */
const SIGNING_KEY_MAX_AGE_MS = 10 * 60_000;

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

interface LoadedKey {
  stored: StoredKey;
  privateKey: CryptoKey;
  publicKey: CryptoKey;
}

async function newStoredKey(): Promise<string> {
  const { privateKey } = await generateKeyPair('RS256', { modulusLength: 2048, extractable: true });
  const createdAt = Math.floor(Date.now() / 1000);
  const stored: StoredKey = { jwk: await exportJWK(privateKey), kid: `${createdAt}-${randomBytes(6).toString('hex')}`, createdAt };
  return JSON.stringify(stored);
}

async function load(value: string): Promise<LoadedKey> {
  const stored = JSON.parse(value) as StoredKey;
  const privateKey = (await importJWK({ ...stored.jwk, alg: 'RS256' }, 'RS256')) as CryptoKey;
  const { d: _d, p: _p, q: _q, dp: _dp, dq: _dq, qi: _qi, ...pub } = stored.jwk;
  const publicKey = (await importJWK({ ...pub, alg: 'RS256' }, 'RS256')) as CryptoKey;
  return { stored, privateKey, publicKey };
}

async function readKeys(db: Db): Promise<{ current: string | undefined; previous: string | undefined }> {
  const rows = await db.selectFrom('foxden_secrets').select(['name', 'value']).where('name', 'in', [CURRENT, PREVIOUS]).execute();
  return { current: rows.find((r) => r.name === CURRENT)?.value, previous: rows.find((r) => r.name === PREVIOUS)?.value };
}

/** Make a new signing key; the current one becomes the previous (still published and accepted). Returns the new kid. */
export async function rotateSigningKey(db: Db): Promise<string> {
  const fresh = await newStoredKey();
  await db.transaction().execute(async (trx) => {
    const current = await trx.selectFrom('foxden_secrets').select('value').where('name', '=', CURRENT).executeTakeFirst();
    await trx.deleteFrom('foxden_secrets').where('name', 'in', [CURRENT, PREVIOUS]).execute();
    const now = Date.now();
    if (current) await trx.insertInto('foxden_secrets').values({ name: PREVIOUS, value: current.value, created_at: now }).execute();
    await trx.insertInto('foxden_secrets').values({ name: CURRENT, value: fresh, created_at: now }).execute();
  });
  return (JSON.parse(fresh) as StoredKey).kid;
}

export class AccessTokens {
  private keys: LoadedKey[] = [];
  private lastLoad = 0;

  private constructor(
    private readonly db: Db,
    private readonly issuer: string,
  ) {}

  /** Load the signing keys, generating and storing one on first start. */
  static async open(db: Db, issuer: string): Promise<AccessTokens> {
    const tokens = new AccessTokens(db, issuer);
    const { current } = await readKeys(db);
    // Two processes racing on first start agree on the key stored first.
    if (!current) await ensureSecret(db, CURRENT, await newStoredKey().then((v) => () => v));
    await tokens.reload();
    return tokens;
  }

  private async refresh(): Promise<void> {
    if (Date.now() - this.lastLoad > SIGNING_KEY_MAX_AGE_MS) await this.reload();
  }

  private async reload(): Promise<void> {
    const { current, previous } = await readKeys(this.db);
    this.keys = await Promise.all([current, previous].filter((v): v is string => v !== undefined).map(load));
    this.lastLoad = Date.now();
  }

  /** The public halves, newest first, as /v1/jwks publishes them. */
  jwks(): { keys: Record<string, unknown>[] } {
    return {
      keys: this.keys.map(({ stored }) => ({ kty: stored.jwk.kty, alg: 'RS256', use: 'sig', kid: stored.kid, n: stored.jwk.n, e: stored.jwk.e, 'fxa-createdAt': stored.createdAt })),
    };
  }

  async issue(input: IssueInput): Promise<{ token: string; expiresIn: number; claims: AccessTokenClaims }> {
    await this.refresh();
    const signing = this.keys[0]!;
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
      .setProtectedHeader({ alg: 'RS256', typ: 'at+JWT', kid: signing.stored.kid })
      .setIssuer(this.issuer)
      .setSubject(claims.uid)
      .setAudience(claims.clientId)
      .setIssuedAt(iat)
      .setExpirationTime(claims.exp)
      .setJti(claims.jti)
      .sign(signing.privateKey);
    return { token, expiresIn: ttl, claims };
  }

  /** An OpenID Connect ID token (scope openid): who signed in, for the client, signed like access tokens. */
  async idToken(input: { uid: string; clientId: string; authAt: number | undefined; ttlSeconds: number }): Promise<string> {
    await this.refresh();
    const signing = this.keys[0]!;
    const iat = Math.floor(Date.now() / 1000);
    const jwt = new SignJWT({ amr: ['pwd', 'email'], acr: 'AAL1', ...(input.authAt ? { auth_time: input.authAt } : {}) })
      .setProtectedHeader({ alg: 'RS256', typ: 'JWT', kid: signing.stored.kid })
      .setIssuer(this.issuer)
      .setSubject(input.uid)
      .setAudience(input.clientId)
      .setIssuedAt(iat)
      .setExpirationTime(iat + Math.max(1, Math.min(MAX_TTL_SECONDS, Math.floor(input.ttlSeconds))));
    return jwt.sign(signing.privateKey);
  }

  /** The claims of a token this server signed and that has not expired; undefined otherwise. */
  async verify(token: string): Promise<AccessTokenClaims | undefined> {
    if (typeof token !== 'string' || token.length > 4096 || token.split('.').length !== 3) return undefined;
    await this.refresh();
    let kid: unknown;
    try {
      kid = JSON.parse(Buffer.from(token.split('.')[0]!, 'base64url').toString('utf8')).kid;
    } catch {
      return undefined;
    }
    let key = this.keys.find((k) => k.stored.kid === kid);
    if (!key && typeof kid === 'string' && Date.now() - this.lastLoad > RELOAD_INTERVAL_MS) {
      // Another process may have rotated the keys since this one loaded them.
      await this.reload();
      key = this.keys.find((k) => k.stored.kid === kid);
    }
    if (!key) return undefined;
    try {
      const { payload } = await jwtVerify(token, key.publicKey, { algorithms: ['RS256'], issuer: this.issuer, typ: 'at+JWT' });
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
