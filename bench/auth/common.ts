import type { Target } from '../common/client.js';
import type { LatencySummary, Problems } from '../common/report.js';

// Shared by the orchestrator (run.ts) and the worker (worker.ts) of the auth benchmark: the
// jobs a worker runs and the results it sends back. Times are epoch milliseconds
// (performance.timeOrigin + performance.now()), so workers in different processes measure
// over the same window.

/**
 * The one user agent of every request, set-up included: the measured sign-ins then come from
 * a browser Foxden already knows for each account (the same address and user agent).
 */
export const FIREFOX_UA = 'Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0';

/** Every phase counts what finishes inside [measureFrom, measureTo); traffic starts at startAt. */
export interface Window {
  startAt: number;
  measureFrom: number;
  measureTo: number;
}

/** Raw crypto.scrypt with Foxden's parameters, `concurrency` calls in flight. */
export interface ScryptJob extends Window {
  mode: 'scrypt';
  concurrency: number;
}

export interface BenchAccount {
  email: string;
  /** Hex, as a client sends it (onepw: PBKDF2 then HKDF of the password). */
  authPW: string;
}

/** `clients` closed-loop clients signing in with POST /auth/v1/account/login?keys=true. */
export interface LoginJob extends Window {
  mode: 'logins';
  target: Target;
  accounts: BenchAccount[];
  clients: number;
  /**
   * After a busy 503: 'retry-after' waits what the server asks, plus up to 25% at random so the
   * refused clients do not all come back in the same millisecond; a number waits that many ms.
   */
  busyPause: 'retry-after' | number;
  /** Clients start spread evenly over this many ms from startAt. */
  rampMs: number;
}

/** A steady, paced stream of Sync storage requests from a few devices. */
export interface StorageJob extends Window {
  mode: 'storage';
  target: Target;
  secret: string;
  devices: number;
  /** Requests per second of each device (paced, one in flight at a time). */
  rate: number;
  uidBase: number;
  seed: number;
}

export type AuthJob = ScryptJob | LoginJob | StorageJob;

export interface WorkerCpu {
  /** user + system CPU seconds of the worker over the whole job. */
  cpuSeconds: number;
}

export interface ScryptResult extends WorkerCpu {
  mode: 'scrypt';
  concurrency: number;
  completed: number;
  seconds: number;
  perSecond: number;
  latency: LatencySummary;
  /** Latency of every call counted (ms), so rounds can be pooled. */
  samples: number[];
}

export interface LoginResult extends WorkerCpu {
  mode: 'logins';
  clients: number;
  seconds: number;
  /** 200 answers inside the window. */
  ok: number;
  perSecond: number;
  /** 503 errno 201 ("server busy") answers inside the window. */
  busy: number;
  /** The same over the whole job (warm-up and, for the storm, its lead included). */
  busyTotal: number;
  /** Retry-After values (seconds) of those answers: value -> count. */
  retryAfter: Record<string, number>;
  /** Latency of the successful logins. */
  latency: LatencySummary;
  /** Latency of the busy answers (they are refused before any scrypt). */
  busyLatency: LatencySummary;
  problems: Problems;
  /** Latencies of the successful logins and of the busy answers (ms). */
  samples: number[];
  busySamples: number[];
}

export interface StorageKind {
  count: number;
  p50: number;
  p99: number;
}

export interface StorageResult extends WorkerCpu {
  mode: 'storage';
  devices: number;
  seconds: number;
  requests: number;
  rps: number;
  latency: LatencySummary;
  kinds: Record<string, StorageKind>;
  /** Sends that left more than 10 ms after their slot (the device was still waiting for an answer). */
  late: number;
  problems: Problems;
  /** Latencies per kind of request (ms). */
  samples: Record<string, number[]>;
}

export type AuthResult = ScryptResult | LoginResult | StorageResult;

/** Epoch milliseconds with sub-millisecond resolution, comparable across processes. */
export function nowMs(): number {
  return performance.timeOrigin + performance.now();
}

export function sleepUntil(epochMs: number): Promise<void> {
  const wait = epochMs - nowMs();
  return wait > 0 ? new Promise((r) => setTimeout(r, wait)) : Promise.resolve();
}
