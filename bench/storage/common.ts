import type { Target } from '../common/client.js';
import type { LatencySummary, Problems } from '../common/report.js';

// Shared by the orchestrator (run.ts), the load generator (generator.ts) and the bare
// server (bare.ts): the jobs and results they exchange, and the random draws of the load
// mix. What the auth bench uses too lives in bench/common/.

/** Header the bare server reads to answer with a body of that many bytes. */
export const SIZE_HEADER = 'x-bench-size';
/** Header the bare server reads to answer with that status. */
export const STATUS_HEADER = 'x-bench-status';

// ---- messages between run.ts and generator.ts ----

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

export interface KindSummary extends LatencySummary {
  meanBytes: number;
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

// ---- randomness ----

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

/** Payload length like Mozilla's load test: Pareto(3) x 300 bytes, capped at 7000 (mean about 450). */
export function paretoLength(rng: () => number): number {
  const u = 1 - rng();
  return Math.min(Math.floor(300 / Math.cbrt(u)), 7000);
}
