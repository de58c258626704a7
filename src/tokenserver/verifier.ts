import { decodeJwt, decodeProtectedHeader, jwtVerify, type JWTPayload } from 'jose';
import { errors, TokenserverError } from './errors.js';
import { JwksCache } from './jwks.js';
import type { VerifiedAccessToken } from './index.js';

// Who the bearer of an OAuth access token is (sync-storage.md 1.5). In turn:
// 1. this server's own accounts (a JWT signed with our key), when local accounts are on;
// 2. the external accounts server (Method 1): a JWT checked against its JWKS (RS256, typ
//    at+jwt, exp), or, when there is no usable key or the token is not a JWT, its verify
//    endpoint, POST {"token"} -> {user, scope[], generation}.
// The token must carry the oldsync scope. A generation of 0 counts as absent.

export const OLDSYNC_SCOPE = 'https://identity.mozilla.com/apps/oldsync';
/** jsonwebtoken's default leeway, which syncstorage-rs keeps. */
const CLOCK_TOLERANCE_SECONDS = 60;

export interface Identity {
  fxaUid: string;
  generation: number | undefined;
}

export interface VerifierOptions {
  local?: (token: string) => Promise<VerifiedAccessToken | undefined>;
  verifyUrl?: string;
  jwksUrl?: string;
  timeoutMs: number;
  log: { warn(obj: object, msg: string): void };
}

/** A scope claim as FxA writes it (space-separated) or as syncstorage-rs reads it (comma-separated). */
export function splitScope(scope: string): string[] {
  return scope.split(/[\s,]+/).filter((s) => s.length > 0);
}

function identity(uid: unknown, scope: readonly unknown[], generation: unknown, source: string): Identity {
  if (typeof uid !== 'string' || uid.length === 0) throw errors.invalidCredentials(`${source}: no user`);
  if (!scope.includes(OLDSYNC_SCOPE)) throw errors.invalidCredentials(`${source}: token lacks the oldsync scope`);
  if (generation !== undefined && generation !== null && !(typeof generation === 'number' && Number.isInteger(generation))) {
    throw errors.invalidCredentials(`${source}: generation is not an integer`);
  }
  return { fxaUid: uid, generation: typeof generation === 'number' && generation !== 0 ? generation : undefined };
}

function isTimeout(err: unknown): boolean {
  return err instanceof Error && (err.name === 'TimeoutError' || err.name === 'AbortError');
}

export class AccessTokenVerifier {
  private readonly jwks: JwksCache | undefined;

  constructor(private readonly options: VerifierOptions) {
    this.jwks = options.jwksUrl ? new JwksCache({ url: options.jwksUrl, timeoutMs: options.timeoutMs, log: options.log }) : undefined;
  }

  get external(): boolean {
    return this.options.verifyUrl !== undefined || this.jwks !== undefined;
  }

  async verify(token: string): Promise<Identity> {
    if (token.length === 0) throw errors.invalidCredentials('empty bearer token');
    if (this.options.local) {
      const local = await this.options.local(token);
      if (local) return identity(local.uid, local.scope, local.generation, 'local token');
    }
    if (!this.external) throw errors.invalidCredentials('not a token of this server');
    return this.verifyExternal(token);
  }

  private async verifyExternal(token: string): Promise<Identity> {
    let kid: string | undefined;
    try {
      const header = decodeProtectedHeader(token);
      decodeJwt(token);
      kid = typeof header.kid === 'string' ? header.kid : undefined;
    } catch {
      // Not a JWT (an opaque token): only the verify endpoint can tell.
      return this.verifyRemotely(token);
    }
    const keys = this.jwks ? await this.jwks.get(kid) : [];
    if (keys.length === 0) return this.verifyRemotely(token);
    for (const { key } of keys) {
      let payload: JWTPayload;
      try {
        ({ payload } = await jwtVerify(token, key, {
          algorithms: ['RS256'],
          typ: 'at+jwt',
          clockTolerance: CLOCK_TOLERANCE_SECONDS,
          requiredClaims: ['exp'],
        }));
      } catch (err) {
        // A wrong signature may be another key's: try the next one.
        if ((err as { code?: string }).code === 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED') continue;
        throw errors.invalidCredentials(`JWT refused: ${(err as Error).message}`);
      }
      const scope = typeof payload.scope === 'string' ? splitScope(payload.scope) : [];
      return identity(payload.sub, scope, payload['fxa-generation'], 'JWT');
    }
    throw errors.invalidCredentials('JWT signature matches no key of the accounts server');
  }

  private async verifyRemotely(token: string): Promise<Identity> {
    const url = this.options.verifyUrl;
    if (!url) throw errors.invalidCredentials('token cannot be checked: no verify endpoint');
    let body: unknown;
    try {
      const res = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json' },
        body: JSON.stringify({ token }),
        signal: AbortSignal.timeout(this.options.timeoutMs),
      });
      if (!res.ok) {
        await res.body?.cancel().catch(() => {});
        throw errors.invalidCredentials(`verify endpoint answered ${res.status}`);
      }
      body = JSON.parse(await res.text());
    } catch (err) {
      if (err instanceof TokenserverError) throw err;
      if (isTimeout(err)) throw errors.verifierUnavailable('verify endpoint timed out');
      throw errors.invalidCredentials(`verify endpoint failed: ${(err as Error).message}`);
    }
    if (typeof body !== 'object' || body === null) throw errors.invalidCredentials('verify endpoint answered no object');
    const { user, scope, generation } = body as { user?: unknown; scope?: unknown; generation?: unknown };
    if (!Array.isArray(scope) || !scope.every((s) => typeof s === 'string')) throw errors.invalidCredentials('verify endpoint answered no scope list');
    return identity(user, scope, generation, 'verify endpoint');
  }
}
