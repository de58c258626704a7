import { readFileSync } from 'node:fs';
import { sleep } from './client.js';

// Resident memory of a child process, as Linux counts it (VmRSS in /proc/<pid>/status).
// V8 gives memory back about 10 s into idleness, so "idle RSS" waits for it to stop moving.

export function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+)\s+kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(m[1]) / 1024;
}

export interface IdleRssOptions {
  /** Wait at least this long (ms). */
  minWaitMs: number;
  /** And at most this long (ms). */
  maxWaitMs: number;
  /** Settled: no change above 0.05 MB for this long (ms). */
  stableMs: number;
}

const DEFAULT_IDLE: IdleRssOptions = { minWaitMs: 10_000, maxWaitMs: 20_000, stableMs: 5_000 };

/** RSS (MB) right away, then once it has not moved for `stableMs`, after at least `minWaitMs` (bounded by `maxWaitMs`). */
export async function idleRss(pid: number, options: IdleRssOptions = DEFAULT_IDLE): Promise<{ first: number; settled: number; waited: number }> {
  const t0 = performance.now();
  const first = rssMb(pid);
  let settled = first;
  let since = t0;
  while (performance.now() - t0 < options.maxWaitMs) {
    await sleep(500);
    const now = rssMb(pid);
    if (Math.abs(now - settled) > 0.05) {
      settled = now;
      since = performance.now();
    }
    if (performance.now() - t0 >= options.minWaitMs && performance.now() - since >= options.stableMs) break;
  }
  return { first, settled, waited: (performance.now() - t0) / 1000 };
}
