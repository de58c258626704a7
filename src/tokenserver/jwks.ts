import { importJWK, type JWK } from 'jose';

// The external accounts server's signing keys (FOXDEN_FXA_JWKS_URL), fetched and kept a few
// minutes. Entries that are not RS256 signing keys are skipped; an unreachable or unusable
// JWKS simply yields no keys (sync-storage.md 1.5), and is asked again sooner.

export interface PublicKey {
  kid: string | undefined;
  key: CryptoKey;
}

export interface JwksOptions {
  url: string;
  timeoutMs: number;
  /** How long a good answer is kept. */
  ttlMs?: number;
  /** How long a failure (or an answer without usable keys) is kept. */
  failureTtlMs?: number;
  /** A token naming an unknown kid refetches, at most this often. */
  refreshMs?: number;
  log?: { warn(obj: object, msg: string): void };
}

async function usableKey(jwk: unknown): Promise<PublicKey | undefined> {
  if (typeof jwk !== 'object' || jwk === null || Array.isArray(jwk)) return undefined;
  const k = jwk as JWK;
  if (k.kty !== 'RSA' || typeof k.n !== 'string' || typeof k.e !== 'string') return undefined;
  if (k.alg !== undefined && k.alg !== 'RS256') return undefined;
  if (k.use !== undefined && k.use !== 'sig') return undefined;
  try {
    const key = await importJWK({ kty: 'RSA', n: k.n, e: k.e }, 'RS256');
    return { kid: typeof k.kid === 'string' ? k.kid : undefined, key: key as CryptoKey };
  } catch {
    return undefined;
  }
}

export class JwksCache {
  private keys: PublicKey[] = [];
  private fetchedAt = -Infinity;
  private expiresAt = -Infinity;
  private inFlight: Promise<PublicKey[]> | undefined;

  constructor(private readonly options: JwksOptions) {}

  /** The usable keys; `kid` (from the token being checked) refetches early when no key has it. */
  async get(kid?: string): Promise<PublicKey[]> {
    const now = Date.now();
    const stale = now >= this.expiresAt;
    const unknownKid = kid !== undefined && !this.keys.some((k) => k.kid === kid) && now - this.fetchedAt >= (this.options.refreshMs ?? 30_000);
    if (stale || unknownKid) return this.refresh();
    return this.keys;
  }

  private refresh(): Promise<PublicKey[]> {
    this.inFlight ??= this.fetchKeys().finally(() => (this.inFlight = undefined));
    return this.inFlight;
  }

  private async fetchKeys(): Promise<PublicKey[]> {
    let keys: PublicKey[] = [];
    try {
      const res = await fetch(this.options.url, { headers: { accept: 'application/json' }, signal: AbortSignal.timeout(this.options.timeoutMs) });
      if (!res.ok) throw new Error(`status ${res.status}`);
      const body = (await res.json()) as { keys?: unknown };
      if (!Array.isArray(body?.keys)) throw new Error('no keys array');
      keys = (await Promise.all(body.keys.map(usableKey))).filter((k): k is PublicKey => k !== undefined);
      if (keys.length === 0) this.options.log?.warn({ url: this.options.url }, 'JWKS of the accounts server has no usable RS256 key');
    } catch (err) {
      this.options.log?.warn({ url: this.options.url, reason: (err as Error).message }, 'cannot fetch the JWKS of the accounts server');
    }
    const now = Date.now();
    this.keys = keys;
    this.fetchedAt = now;
    this.expiresAt = now + (keys.length > 0 ? (this.options.ttlMs ?? 300_000) : (this.options.failureTtlMs ?? 30_000));
    return keys;
  }
}
