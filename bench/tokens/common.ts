import type { Target } from '../common/client.js';
import type { LatencySummary, Problems } from '../common/report.js';

// Shared by the orchestrator (run.ts) and the worker (worker.ts) of the tokens benchmark: the
// jobs a worker runs and what it sends back. Times are epoch milliseconds
// (performance.timeOrigin + performance.now()), so the orchestrator can read Foxden's CPU use
// at the very moments a worker's measured window opens and closes.

/** Firefox's accounts and OAuth requests (the browser's own user agent; the same on every request). */
export const FIREFOX_UA = 'Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0';
/** Firefox's Sync requests (tokenserver and storage) say who they are this way. */
export const SYNC_UA = 'Firefox/128.0 (Linux x86_64) FxSync/1.130.0.desktop';
/** Firefox desktop's OAuth client id. */
export const FIREFOX_CLIENT_ID = '5882386c6d801776';
/** What Firefox asks an fxa-credentials Sync token for: six hours, the longest Foxden gives. */
export const SYNC_TOKEN_TTL = 21_600;

/** What setup leaves for each user: everything a signed-in Firefox holds. */
export interface BenchUser {
  email: string;
  /** Hex; verified (sign-up code confirmed). */
  sessionToken: string;
  /** Hex; the sign-in page derives kSync from it on every connection. */
  kB: string;
  /** kSync (base64url) and its kid, as Firefox keeps them (the kid is X-KeyID). */
  kSync: string;
  kid: string;
  /** An oldsync access token from setup (six hours): the probe calls the tokenserver with it. */
  accessToken: string;
  /** The storage token the tokenserver gave at setup (an hour). */
  storage: { uid: number; id: string; key: string };
}

/** Every phase counts what finishes inside [measureFrom, measureTo); traffic starts at startAt. */
export interface Window {
  startAt: number;
  measureFrom: number;
  measureTo: number;
  /** The phase also ends once this many operations were counted. */
  maxOps: number;
}

/** Sign up and confirm `users` accounts, `concurrency` at a time, and take each to Sync. */
export interface SetupJob {
  mode: 'setup';
  target: Target;
  /** Foxden's data directory: the sign-up codes are read from its outbox/*.eml. */
  dataDir: string;
  users: number;
  concurrency: number;
  /** Makes the addresses of this run unique. */
  tag: string;
}

export interface SetupResult {
  mode: 'setup';
  users: BenchUser[];
  seconds: number;
  /** 503 "server busy" answers to sign-ups (the scrypt pool was full); they were retried. */
  busy: number;
  /** Latency per setup step (account/create is one scrypt). */
  steps: Record<string, LatencySummary>;
  cpuSeconds: number;
}

/** Closed loop of `clients`, each going through the users from its own offset. */
export interface LoopJob extends Window {
  mode: 'refresh' | 'info' | 'burst';
  target: Target;
  users: BenchUser[];
  clients: number;
}

/** One client alternating a tokenserver request and an info/collections request. */
export interface ProbeJob {
  mode: 'probe';
  target: Target;
  users: BenchUser[];
  warmup: number;
  pairs: number;
  maxSeconds: number;
}

export type TokensJob = SetupJob | LoopJob | ProbeJob;

export interface LoopResult {
  mode: 'refresh' | 'info' | 'burst';
  clients: number;
  /** Operations (a refresh, a request, a connection) completed inside the window. */
  ops: number;
  /** Measured seconds: the window, or up to the op that reached maxOps. */
  seconds: number;
  perSecond: number;
  /** When the measured window closed (epoch ms). */
  endedAt: number;
  /** Latency of each operation: the sum of its requests' latencies (send to last body byte). */
  total: LatencySummary;
  /** For a connection: with the browser's own crypto (key pair, keys_jwe both ways) in between. */
  wall?: LatencySummary;
  /** Latency per request kind, over the requests that finished inside the window. */
  steps: Record<string, LatencySummary>;
  /** Requests answered inside the window. */
  requests: number;
  problems: Problems;
  cpuSeconds: number;
}

export interface ProbeResult {
  mode: 'probe';
  pairs: number;
  seconds: number;
  tokenserver: LatencySummary;
  info: LatencySummary;
  problems: Problems;
  cpuSeconds: number;
}

export type TokensResult = SetupResult | LoopResult | ProbeResult;

/** Epoch milliseconds with sub-millisecond resolution, comparable across processes. */
export function nowMs(): number {
  return performance.timeOrigin + performance.now();
}

export function sleepUntil(epochMs: number): Promise<void> {
  const wait = epochMs - nowMs();
  return wait > 0 ? new Promise((r) => setTimeout(r, wait)) : Promise.resolve();
}
