import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

// Hawk header authentication (hawk.1.header), the subset Sync and Firefox Accounts use.

export interface HawkAttributes {
  id: string;
  ts: string;
  nonce: string;
  mac: string;
  hash?: string;
  ext?: string;
}

export interface HawkRequest {
  method: string;
  /** Raw request target: path plus '?' and query, exactly as the client sent it. */
  resource: string;
  host: string;
  port: number;
}

const ATTRIBUTE = /^\s*([a-z]+)="((?:[^"\\]|\\.)*)"\s*(?:,|$)/;
const KNOWN = new Set(['id', 'ts', 'nonce', 'mac', 'hash', 'ext', 'app', 'dlg']);

/** Parse `Hawk id="...", ts="...", ...`; undefined when the header is not a well-formed Hawk header. */
export function parseHawkHeader(header: string | undefined): HawkAttributes | undefined {
  if (!header) return undefined;
  const match = /^hawk\s+(.*)$/is.exec(header.trim());
  if (!match) return undefined;
  let rest = match[1]!;
  const attrs: Record<string, string> = {};
  while (rest.trim().length > 0) {
    const m = ATTRIBUTE.exec(rest);
    if (!m) return undefined;
    const name = m[1]!;
    if (!KNOWN.has(name) || name in attrs) return undefined;
    attrs[name] = m[2]!.replace(/\\(.)/g, '$1');
    rest = rest.slice(m[0].length);
  }
  const { id, ts, nonce, mac } = attrs;
  if (!id || !ts || !nonce || !mac) return undefined;
  if (!/^\d{1,15}$/.test(ts)) return undefined;
  return { id, ts, nonce, mac, hash: attrs.hash, ext: attrs.ext };
}

export function normalizedString(req: HawkRequest, a: Omit<HawkAttributes, 'mac' | 'id'>): string {
  const ext = (a.ext ?? '').replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
  return [
    'hawk.1.header',
    a.ts,
    a.nonce,
    req.method.toUpperCase(),
    req.resource,
    req.host.toLowerCase(),
    String(req.port),
    a.hash ?? '',
    ext,
    '',
  ].join('\n');
}

export function computeMac(key: string | Uint8Array, req: HawkRequest, a: Omit<HawkAttributes, 'mac' | 'id'>): string {
  return createHmac('sha256', key).update(normalizedString(req, a)).digest('base64');
}

/** Hawk payload hash: SHA-256 over "hawk.1.payload\n<content type>\n<body>\n". */
export function payloadHash(contentType: string, body: string | Uint8Array): string {
  const type = contentType.split(';')[0]!.trim().toLowerCase();
  return createHash('sha256')
    .update(`hawk.1.payload\n${type}\n`)
    .update(body)
    .update('\n')
    .digest('base64');
}

export function macMatches(expected: string, given: string): boolean {
  const a = Buffer.from(expected);
  const b = Buffer.from(given);
  return a.length === b.length && timingSafeEqual(a, b);
}

export interface SignOptions {
  id: string;
  key: string | Uint8Array;
  ts?: number;
  nonce?: string;
  hash?: string;
  ext?: string;
}

/** Build an Authorization header value (the client side, for our tests and tools). */
export function hawkHeader(req: HawkRequest, opts: SignOptions): string {
  const ts = String(opts.ts ?? Math.floor(Date.now() / 1000));
  const nonce = opts.nonce ?? randomBytes(6).toString('base64');
  const mac = computeMac(opts.key, req, { ts, nonce, hash: opts.hash, ext: opts.ext });
  const parts = [`id="${opts.id}"`, `ts="${ts}"`, `nonce="${nonce}"`];
  if (opts.hash !== undefined) parts.push(`hash="${opts.hash}"`);
  if (opts.ext !== undefined) parts.push(`ext="${opts.ext.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`);
  parts.push(`mac="${mac}"`);
  return `Hawk ${parts.join(', ')}`;
}

/**
 * Remembers the MACs of accepted requests until their timestamp leaves the skew window, so a
 * captured request cannot be replayed. Bounded: past `maxEntries` the oldest second is dropped.
 */
export class NonceCache {
  private readonly buckets = new Map<number, Set<string>>();
  private size = 0;

  constructor(
    private readonly windowSeconds: number,
    private readonly maxEntries = 250_000,
  ) {}

  /** Records the request; false when the same one was seen inside the window. */
  check(ts: number, key: string, nowSeconds: number): boolean {
    this.evict(nowSeconds);
    let bucket = this.buckets.get(ts);
    if (bucket?.has(key)) return false;
    if (!bucket) {
      bucket = new Set();
      this.buckets.set(ts, bucket);
    }
    bucket.add(key);
    this.size++;
    return true;
  }

  private evict(now: number): void {
    for (const [ts, bucket] of this.buckets) {
      if (ts >= now - this.windowSeconds && this.size <= this.maxEntries) break;
      if (ts < now - this.windowSeconds || this.size > this.maxEntries) {
        this.size -= bucket.size;
        this.buckets.delete(ts);
      }
    }
  }
}
