// What the benches measure and how they print it: latency percentiles, the tally of wrong
// answers, number formats and the summary table. Both benches print the same way so that
// their reports read alike.

// ---- statistics ----

export interface LatencySummary {
  count: number;
  p50: number;
  p99: number;
  max: number;
  mean: number;
}

export function summarize(values: readonly number[]): LatencySummary {
  if (values.length === 0) return { count: 0, p50: NaN, p99: NaN, max: NaN, mean: NaN };
  const sorted = Float64Array.from(values).sort();
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]!;
  let sum = 0;
  for (const v of sorted) sum += v;
  return { count: sorted.length, p50: at(0.5), p99: at(0.99), max: sorted[sorted.length - 1]!, mean: sum / sorted.length };
}

// ---- problems: answers that should not have come ----

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

export function newProblems(): Problems {
  return { unexpected: 0, serverErrors: 0, transport: 0, statuses: {}, examples: [] };
}

export function noteStatus(p: Problems, status: number): void {
  p.statuses[status] = (p.statuses[status] ?? 0) + 1;
}

/** `status` 0: no answer at all. */
export function noteProblem(p: Problems, kind: string, status: number, detail: string): void {
  if (status === 0) p.transport++;
  else {
    p.unexpected++;
    if (status >= 500) p.serverErrors++;
  }
  if (p.examples.length < 8) p.examples.push({ kind, status, detail: detail.slice(0, 300) });
}

// ---- output ----

export function log(line = ''): void {
  process.stdout.write(`${line}\n`);
}

// A figure that could not be measured (NaN) prints as '-'.
export const f0 = (v: number) => (Number.isFinite(v) ? Math.round(v).toLocaleString('en-US') : '-');
export const f1 = (v: number) => (Number.isFinite(v) ? v.toFixed(1) : '-');
export const f2 = (v: number) => (Number.isFinite(v) ? v.toFixed(2) : '-');
export const pct = (v: number) => (Number.isFinite(v) ? `${(100 * v).toFixed(1)}%` : '-');

/** A target that decides the run prints in capitals; one shown for reference, in parentheses. */
export function verdict(ok: boolean, binding: boolean): string {
  if (binding) return ok ? 'PASS' : 'FAIL';
  return ok ? '(pass)' : '(fail)';
}

/** Rows padded into columns; the first row is the header. */
export function table(rows: string[][]): string[] {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) => r.map((cell, i) => cell.padEnd(widths[i]!)).join('  ').trimEnd());
}

function problemLine(p: Problems): string {
  const statuses = Object.entries(p.statuses)
    .map(([s, n]) => `${s}x${n}`)
    .join(' ');
  return `unexpected ${p.unexpected} (5xx ${p.serverErrors}), no answer ${p.transport}; statuses ${statuses}`;
}

/** Nothing when all went well; otherwise the counts and the first examples. */
export function printProblems(p: Problems, indent = '    '): void {
  if (p.unexpected === 0 && p.transport === 0) return;
  log(`${indent}PROBLEMS: ${problemLine(p)}`);
  for (const e of p.examples) log(`${indent}  [${e.kind}] ${e.status || 'no answer'}: ${e.detail}`);
}
