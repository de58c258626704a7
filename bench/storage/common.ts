import http from 'node:http';
import { randomBytes } from 'node:crypto';
import { hawkHeader } from '../../src/crypto/hawk.js';
import { makeToken, type Token } from '../../src/crypto/tokenlib.js';

// Shared by the orchestrator (run.ts), the load generator (generator.ts) and the bare
// server (bare.ts): message types, a seeded PRNG, payload material, percentiles and a tiny
// keep-alive HTTP client that signs like a Sync client.

export const BENCH_SECRET = 'foxden-bench-master-secret-0123456789';
/** Header the bare server reads to answer with a body of that many bytes. */
export const SIZE_HEADER = 'x-bench-size';
/** Header the bare server reads to answer with that status. */
export const STATUS_HEADER = 'x-bench-status';
/** Every request of one HTTP exchange is abandoned after this long. */
export const REQUEST_TIMEOUT_MS = 30_000;

// ---- messages between run.ts and generator.ts ----

export interface Target {
  host: string;
  port: number;
  /** True for the bare node:http server: bodies are not parsed, sizes are asked for. */
  bare: boolean;
}

export interface MixJob {
  mode: 'mix';
  target: Target;
  secret: string;
  devices: number;
  seconds: number;
  warmupSeconds: number;
  uidBase: number;
  deletes: boolean;
  thinkMs: number;
  seed: number;
  /** For the bare server: response body sizes Foxden gave, per request kind. */
  sizes?: Record<string, number[]>;
}

export interface PostsJob {
  mode: 'posts';
  target: Target;
  secret: string;
  clients: number;
  maxPosts: number;
  maxSeconds: number;
  uidBase: number;
  recordsPerPost: number;
  payloadBytes: number;
  collection: string;
}

export interface ReadJob {
  mode: 'read';
  target: Target;
  secret: string;
  uid: number;
  collection: string;
  warmupRequests: number;
  requests: number;
  maxSeconds: number;
  /** newer values are drawn uniformly from [newerFrom, newerTo] (ms), on the 10 ms grain. */
  newerFrom: number;
  newerTo: number;
  limit: number;
  sort?: 'newest' | 'oldest' | 'index';
}

export type Job = MixJob | PostsJob | ReadJob;

export interface LatencySummary {
  count: number;
  p50: number;
  p99: number;
  max: number;
  mean: number;
}

export interface KindSummary extends LatencySummary {
  meanBytes: number;
}

export interface Problem {
  kind: string;
  status: number;
  detail: string;
}

export interface Problems {
  /** Answers with a status the protocol does not predict for that request. */
  unexpected: number;
  /** Of those, 5xx answers. */
  serverErrors: number;
  /** Requests that got no answer (socket error, timeout). */
  transport: number;
  statuses: Record<string, number>;
  examples: Problem[];
}

export interface MixResult {
  mode: 'mix';
  seconds: number;
  requests: number;
  rps: number;
  latency: LatencySummary;
  kinds: Record<string, KindSummary>;
  sizes: Record<string, number[]>;
  problems: Problems;
  iterations: number;
  /** CPU seconds the generator itself used (user + system) over the whole job. */
  generatorCpu: number;
}

export interface PostsResult {
  mode: 'posts';
  clients: number;
  posts: number;
  records: number;
  seconds: number;
  recordsPerSecond: number;
  latency: LatencySummary;
  problems: Problems;
}

export interface ReadResult {
  mode: 'read';
  requests: number;
  seconds: number;
  latency: LatencySummary;
  meanRecords: number;
  meanBytes: number;
  problems: Problems;
}

export type JobResult = MixResult | PostsResult | ReadResult;

export type ChildMessage = { type: 'result'; result: JobResult } | { type: 'error'; message: string };

// ---- randomness ----

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

/** Index drawn with the given integer weights (index i means "i requests"). */
export function weighted(rng: () => number, weights: readonly number[]): number {
  const total = weights.reduce((s, w) => s + w, 0);
  let r = rng() * total;
  for (let i = 0; i < weights.length; i++) {
    r -= weights[i]!;
    if (r < 0) return i;
  }
  return weights.length - 1;
}

/** k distinct elements, in random order. */
export function sample<T>(rng: () => number, items: readonly T[], k: number): T[] {
  const pool = [...items];
  const out: T[] = [];
  for (let i = 0; i < k && pool.length > 0; i++) out.push(pool.splice(Math.floor(rng() * pool.length), 1)[0]!);
  return out;
}

export function randomInt(rng: () => number, min: number, max: number): number {
  return min + Math.floor(rng() * (max - min + 1));
}

const ID_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

/** A 12-character base64url record id, like Firefox's. */
export function recordId(rng: () => number): string {
  let id = '';
  for (let i = 0; i < 12; i++) id += ID_ALPHABET[Math.floor(rng() * 64)];
  return id;
}

/** Random base64url text that payloads are cut from (no JSON escaping needed). */
export const PAYLOAD_SOURCE = randomBytes(24 * 1024).toString('base64url');

export function payloadOf(rng: () => number, length: number): string {
  const n = Math.min(length, PAYLOAD_SOURCE.length);
  const start = Math.floor(rng() * (PAYLOAD_SOURCE.length - n));
  return PAYLOAD_SOURCE.slice(start, start + n);
}

/** Payload length like Mozilla's load test: Pareto(3) x 300 bytes, capped at 7000 (mean about 450). */
export function paretoLength(rng: () => number): number {
  const u = 1 - rng();
  return Math.min(Math.floor(300 / Math.cbrt(u)), 7000);
}

/** A JSON array of n records with fresh ids; payloads are base64url, so no escaping. */
export function recordsBody(rng: () => number, n: number, length: (rng: () => number) => number): string {
  const parts: string[] = [];
  for (let i = 0; i < n; i++) parts.push(`{"id":"${recordId(rng)}","payload":"${payloadOf(rng, length(rng))}"}`);
  return `[${parts.join(',')}]`;
}

// ---- statistics ----

export function summarize(values: readonly number[]): LatencySummary {
  if (values.length === 0) return { count: 0, p50: NaN, p99: NaN, max: NaN, mean: NaN };
  const sorted = Float64Array.from(values).sort();
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]!;
  let sum = 0;
  for (const v of sorted) sum += v;
  return { count: sorted.length, p50: at(0.5), p99: at(0.99), max: sorted[sorted.length - 1]!, mean: sum / sorted.length };
}

export function newProblems(): Problems {
  return { unexpected: 0, serverErrors: 0, transport: 0, statuses: {}, examples: [] };
}

export function noteStatus(p: Problems, status: number): void {
  p.statuses[status] = (p.statuses[status] ?? 0) + 1;
}

export function noteProblem(p: Problems, kind: string, status: number, detail: string): void {
  if (status === 0) p.transport++;
  else {
    p.unexpected++;
    if (status >= 500) p.serverErrors++;
  }
  if (p.examples.length < 8) p.examples.push({ kind, status, detail: detail.slice(0, 300) });
}

// ---- HTTP ----

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

export function keepAliveAgent(sockets: number): http.Agent {
  return new http.Agent({ keepAlive: true, maxSockets: sockets, maxFreeSockets: sockets, keepAliveMsecs: 1000 });
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
