import http from 'node:http';
import { hawkHeader } from '../../src/crypto/hawk.js';
import { makeToken, type Token } from '../../src/crypto/tokenlib.js';

// The HTTP client side of the benches: one keep-alive request that measures itself, and a
// simulated Sync device that signs its requests with Hawk like Firefox does.

/** The Sync master secret the benches give Foxden, so they can mint tokens it accepts. */
export const BENCH_SECRET = 'foxden-bench-master-secret-0123456789';
/** Every request of one HTTP exchange is abandoned after this long. */
const REQUEST_TIMEOUT_MS = 30_000;

export interface Target {
  host: string;
  port: number;
  /** True for the storage bench's bare node:http server: bodies are not parsed, sizes are asked for. */
  bare: boolean;
}

export interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
  /** Milliseconds from sending to the last body byte. */
  ms: number;
}

/** One request over the keep-alive agent; never rejects on HTTP status, rejects on transport errors. */
export function send(agent: http.Agent, target: Target, method: string, path: string, headers: Record<string, string>, body?: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const out: Record<string, string | number> = { ...headers };
    if (body !== undefined) out['content-length'] = Buffer.byteLength(body);
    const req = http.request({ agent, host: target.host, port: target.port, method, path, headers: out }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks), ms: performance.now() - started }));
      res.on('error', reject);
    });
    req.setTimeout(REQUEST_TIMEOUT_MS, () => req.destroy(new Error(`timeout after ${REQUEST_TIMEOUT_MS} ms`)));
    req.on('error', reject);
    req.end(body);
  });
}

export function keepAliveAgent(sockets: number): http.Agent {
  return new http.Agent({ keepAlive: true, maxSockets: sockets, maxFreeSockets: sockets, keepAliveMsecs: 1000 });
}

/** A simulated device: its own uid and token; signs every request with Hawk. */
export class SignedClient {
  readonly token: Token;

  constructor(
    readonly target: Target,
    readonly uid: number,
    secret: string,
  ) {
    this.token = makeToken(secret, {
      node: `http://${target.host}:${target.port}`,
      fxa_kid: '0000000001234-qqo',
      fxa_uid: 'decafbaddecafbaddecafbaddecafbad',
      hashed_device_id: 'dddddddddddddddddddddddddddddddd',
      hashed_fxa_uid: 'eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee',
      expires: Date.now() / 1000 + 4 * 3600,
      uid,
      tokenserver_origin: 'rust',
    });
  }

  /** `/1.5/<uid>` + rest. */
  path(rest: string): string {
    return `/1.5/${this.uid}${rest}`;
  }

  headers(method: string, path: string, extra: Record<string, string> = {}): Record<string, string> {
    return {
      authorization: hawkHeader({ method, resource: path, host: this.target.host, port: this.target.port }, { id: this.token.id, key: this.token.key }),
      accept: 'application/json',
      ...extra,
    };
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
