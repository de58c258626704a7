import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import type http from 'node:http';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { payloadHash, hawkHeader } from '../../src/crypto/hawk.js';
import { bytesToHex, deriveTokenKeys, hexToBytes, passwordCredentials } from '../../src/crypto/onepw.js';
import { defaultScryptConcurrency } from '../../src/crypto/verifier.js';
import { BENCH_SECRET, keepAliveAgent, send, sleep, type Target } from '../common/client.js';
import { machineBusySeconds, noisy, statFields } from '../common/cpu.js';
import { FoxdenChild, HOST, foxdenRoot, foxdenVersion, freePort, heartbeatWithin, type LogEntry } from '../common/foxden.js';
import { runInChild } from '../common/jobs.js';
import { parseOptions, usageError, wholeNumber } from '../common/options.js';
import { atCleanup, checkInterrupted, cleanupAll, exited, isInterrupted, runBench, stopChild, track } from '../common/processes.js';
import { f1, f2, log, newProblems, pct, printProblems, summarize, table, verdict, type Problems } from '../common/report.js';
import {
  FIREFOX_UA,
  nowMs,
  type AuthJob,
  type AuthResult,
  type BenchAccount,
  type LoginJob,
  type LoginResult,
  type ScryptResult,
  type StorageJob,
  type StorageKind,
  type StorageResult,
} from './common.js';

// Foxden auth benchmark (bench/auth/README.md). Foxden runs as a child process on SQLite in a
// temporary directory. For each scrypt pool size (the default, then one per core):
//   1. raw crypto.scrypt at the pool's concurrency, in a worker process, then sign-ins against
//      Foxden from --login-clients clients, as long and counted the same way: logins/s over scrypt/s;
//   2. a paced stream of Sync storage requests, quiet, then again while --storm-clients clients
//      sign in at once: storage p99 in the storm over p99 when quiet.
// Each pair alternates in --rounds rounds of --seconds / --rounds, so load from other processes
// that comes and goes falls on both sides; the rounds are pooled.
// Everything runs on 127.0.0.1; every phase has a time bound; children and files are removed at the end.

const USAGE = `usage: npm run bench:auth -- [options]
  --seconds S          measured seconds of each phase, over all rounds (default 15)
  --rounds N           rounds each pair of phases alternates in (default 3)
  --warmup S           unmeasured seconds before each round of a phase (default 2)
  --pools LIST         scrypt pool sizes to measure: default, cores or both (default both)
  --accounts N         verified accounts the sign-ins cycle through (default 16)
  --login-clients N    concurrent sign-in clients of the throughput phase (default 8)
  --storm-clients N    concurrent sign-in clients of the storm (default 64)
  --devices N          Sync devices of the storage stream (default 4)
  --rate R             storage requests per second of each device (default 20)
  --busy-pause P       after a busy 503 a client waits: retry-after (what the server asks, plus up to 25%
                       at random; the default) or a number of ms`;

const opts = parseOptions(USAGE, {
  seconds: { type: 'string', default: '15' },
  rounds: { type: 'string', default: '3' },
  warmup: { type: 'string', default: '2' },
  pools: { type: 'string', default: 'both' },
  accounts: { type: 'string', default: '16' },
  'login-clients': { type: 'string', default: '8' },
  'storm-clients': { type: 'string', default: '64' },
  devices: { type: 'string', default: '4' },
  rate: { type: 'string', default: '20' },
  'busy-pause': { type: 'string', default: 'retry-after' },
});

function intOption(name: keyof typeof opts, min: number, max: number): number {
  return wholeNumber(USAGE, name, String(opts[name]), min, max);
}

const SECONDS = intOption('seconds', 1, 600);
const ROUNDS = intOption('rounds', 1, 20);
const WARMUP = intOption('warmup', 0, 60);
/** Measured seconds of one round of one phase. */
const ROUND_SECONDS = SECONDS / ROUNDS;
const ACCOUNTS = intOption('accounts', 1, 1000);
const LOGIN_CLIENTS = intOption('login-clients', 1, 1000);
const STORM_CLIENTS = intOption('storm-clients', 1, 5000);
const DEVICES = intOption('devices', 1, 200);
const RATE = intOption('rate', 1, 1000);
const BUSY_PAUSE: 'retry-after' | number = (() => {
  const raw = String(opts['busy-pause']);
  if (raw === 'retry-after') return raw;
  if (!/^\d+$/.test(raw) || Number(raw) > 60_000) usageError(USAGE, `--busy-pause must be retry-after or a number of ms up to 60000 (got ${raw})`);
  return Number(raw);
})();

const CORES = availableParallelism();
/** What Foxden picks when FOXDEN_SCRYPT_CONCURRENCY is unset: the same function, on the same machine. */
const DEFAULT_POOL = defaultScryptConcurrency();
interface PoolPlan {
  label: 'default' | 'cores';
  size: number;
  /** The targets are stated for the default pool; the per-core pool shows the trade-off. */
  binding: boolean;
}
const POOLS: PoolPlan[] = (() => {
  const def: PoolPlan = { label: 'default', size: DEFAULT_POOL, binding: true };
  const cores: PoolPlan = { label: 'cores', size: CORES, binding: false };
  switch (opts.pools) {
    case 'both':
      return CORES === DEFAULT_POOL ? [def] : [def, cores];
    case 'default':
      return [def];
    case 'cores':
      return [cores];
    default:
      return usageError(USAGE, `--pools must be default, cores or both (got ${String(opts.pools)})`);
  }
})();

const TARGET_LOGIN_RATIO = 0.9;
const TARGET_P99_RATIO = 1.25;
/** Storage uids: one block per measured stream, so every stream starts from the same seeded state. */
const UID_STORAGE = 700_000;
/** The storage stream starts this long after the storm, so the pool is already full. */
const STORM_LEAD_MS = 2000;
/** Time given to a worker process to start (and the storage worker to seed) before its traffic. */
const START_MS = 1500;

const here = dirname(fileURLToPath(import.meta.url));
const root = foxdenRoot(here);
const CLI = join(root, 'dist', 'cli.js');
const WORKER = join(here, 'worker.js');
if (!existsSync(CLI)) usageError(USAGE, `${CLI} is missing: run npm run build first (npm run bench:auth does)`);

const PHASE_MS = ROUNDS * ((WARMUP + ROUND_SECONDS) * 1000 + START_MS + STORM_LEAD_MS) + 10_000;
const HARD_LIMIT_MS = 300_000 + ACCOUNTS * 10_000 + POOLS.length * (4 * PHASE_MS + 180_000);

// ---- CPU: who used the machine during a phase ----

/** Without /proc/stat, "other processes" is unknown (NaN, printed '-') rather than a failed phase. */
function busySecondsOrNaN(): number {
  try {
    return machineBusySeconds();
  } catch {
    return NaN;
  }
}

/**
 * user + system CPU seconds of a live process and its children (Linux clock ticks of 1/100 s):
 * Foxden runs its password hashing in a child process, which is Foxden's work too.
 */
function processCpuSeconds(pid: number): number {
  const f = statFields(pid);
  if (!f) return NaN;
  let ticks = f[11]! + f[12]! + f[13]! + f[14]!;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const c = statFields(entry);
    if (c && c[1] === pid) ticks += c[11]! + c[12]!;
  }
  return ticks / 100;
}

interface CpuShare {
  seconds: number;
  /** Core-seconds the machine had (cores x seconds). */
  capacity: number;
  foxden: number;
  /** This process and its worker processes. */
  bench: number;
  /** Everything else: other jobs on the machine. */
  others: number;
}

class CpuMeter {
  private readonly t0 = performance.now();
  private readonly busy0 = busySecondsOrNaN();
  private readonly self0 = process.cpuUsage();
  private readonly fox0: number;

  constructor(private readonly foxPid: number) {
    this.fox0 = processCpuSeconds(foxPid);
  }

  /** `workers`: CPU seconds the phase's workers reported. */
  read(workers: number): CpuShare {
    const seconds = (performance.now() - this.t0) / 1000;
    const self = process.cpuUsage(this.self0);
    const bench = (self.user + self.system) / 1e6 + workers;
    // NaN once Foxden is gone (that phase fails anyway): count it as 0 rather than poison the sums.
    const foxNow = processCpuSeconds(this.foxPid);
    const foxden = Number.isFinite(foxNow) && Number.isFinite(this.fox0) ? foxNow - this.fox0 : 0;
    const busy = busySecondsOrNaN() - this.busy0;
    return { seconds, capacity: seconds * CORES, foxden, bench, others: Math.max(0, busy - foxden - bench) };
  }
}

function cpuLine(c: CpuShare): string {
  return `CPU core-seconds of ${f1(c.capacity)}: Foxden ${f1(c.foxden)}, bench processes ${f1(c.bench)}, other processes ${f1(c.others)}`;
}

// ---- Foxden ----

interface MailCode {
  to: string;
  template: string;
  code: string;
}

class Foxden extends FoxdenChild {
  private readonly codes: MailCode[] = [];
  private readonly codeWaiters = new Set<() => void>();

  /** Mails arrive as info lines of the outbox (codes included): kept for code(), not counted. */
  protected override take(entry: LogEntry): boolean {
    const { msg, to, template, code } = entry;
    if (msg !== 'mail written to outbox' || typeof to !== 'string' || typeof template !== 'string' || typeof code !== 'string') return false;
    this.codes.push({ to, template, code });
    for (const wake of this.codeWaiters) wake();
    return true;
  }

  /** The code of the newest mail of `template` to `to`, as the outbox logs it (info level). */
  async code(to: string, template: string, timeoutMs = 15_000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.codes.find((c) => c.to === to && c.template === template);
      if (found) return found.code;
      if (Date.now() > deadline) throw new Error(`no ${template} mail to ${to} in Foxden's log within ${timeoutMs} ms`);
      if (!this.alive()) throw new Error(this.describeExit());
      await new Promise<void>((r) => {
        const wake = () => {
          this.codeWaiters.delete(wake);
          clearTimeout(timer);
          r();
        };
        const timer = setTimeout(wake, 200);
        this.codeWaiters.add(wake);
      });
    }
  }
}

async function startFoxden(dataDir: string, pool: number, logLevel: 'info' | 'warn'): Promise<Foxden> {
  const port = await freePort();
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('FOXDEN_') && k !== 'NODE_OPTIONS') env[k] = v;
  Object.assign(env, {
    FOXDEN_HOST: HOST,
    FOXDEN_PORT: String(port),
    FOXDEN_PUBLIC_URL: `http://${HOST}:${port}`,
    FOXDEN_DATA_DIR: dataDir,
    FOXDEN_SYNC_MASTER_SECRET: BENCH_SECRET,
    FOXDEN_RATE_LIMITS: 'off',
    FOXDEN_SIGNIN_CONFIRMATION: 'never',
    FOXDEN_REGISTRATION: 'open',
    FOXDEN_SCRYPT_CONCURRENCY: String(pool),
    FOXDEN_LOG_LEVEL: logLevel,
  });
  const child = track(spawn(process.execPath, [CLI, 'serve'], { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] }));
  const fox = new Foxden(child, port);
  if (await heartbeatWithin(fox, 30_000)) return fox;
  await stopChild(child);
  throw new Error('Foxden did not answer /__heartbeat__ within 30 s');
}

// ---- accounts ----

interface JsonAnswer {
  status: number;
  body: Record<string, unknown>;
}

async function fxaCall(fox: Foxden, agent: http.Agent, path: string, body: unknown, sessionToken?: string): Promise<JsonAnswer> {
  const resource = `/auth/v1${path}`;
  const text = JSON.stringify(body);
  const headers: Record<string, string> = { 'content-type': 'application/json', 'user-agent': FIREFOX_UA };
  if (sessionToken) {
    const keys = await deriveTokenKeys(hexToBytes(sessionToken), 'sessionToken');
    headers.authorization = hawkHeader(
      { method: 'POST', resource, host: HOST, port: fox.port },
      { id: bytesToHex(keys.tokenId), key: keys.authKey, hash: payloadHash('application/json', text) },
    );
  }
  const answer = await send(agent, fox.target, 'POST', resource, headers, text);
  let parsed: Record<string, unknown> = {};
  try {
    parsed = JSON.parse(answer.body.toString('utf8')) as Record<string, unknown>;
  } catch {
    parsed = { text: answer.body.toString('utf8').slice(0, 300) };
  }
  return { status: answer.status, body: parsed };
}

/** Create and verify one account (sign-up code read from Foxden's log); retries while the pool is busy. */
async function createAccount(fox: Foxden, agent: http.Agent, email: string, password: string): Promise<BenchAccount> {
  const authPW = bytesToHex((await passwordCredentials(email, password)).authPW);
  for (let attempt = 0; ; attempt++) {
    const created = await fxaCall(fox, agent, '/account/create?keys=true', { email, authPW, verificationMethod: 'email-otp' });
    if (created.status === 503 && attempt < 20) {
      await sleep(1000);
      continue;
    }
    if (created.status !== 200) throw new Error(`account/create for ${email}: ${created.status} ${JSON.stringify(created.body)}`);
    const sessionToken = String(created.body.sessionToken);
    const code = await fox.code(email, 'verifyShortCode');
    const verified = await fxaCall(fox, agent, '/session/verify_code', { code }, sessionToken);
    if (verified.status !== 200) throw new Error(`session/verify_code for ${email}: ${verified.status} ${JSON.stringify(verified.body)}`);
    return { email, authPW };
  }
}

async function createAccounts(fox: Foxden, n: number): Promise<BenchAccount[]> {
  const agent = keepAliveAgent(4);
  const run = randomBytes(3).toString('hex');
  const accounts: BenchAccount[] = new Array(n);
  let next = 0;
  try {
    await Promise.all(
      Array.from({ length: Math.min(4, n) }, async () => {
        while (next < n) {
          const i = next++;
          accounts[i] = await createAccount(fox, agent, `bench-${run}-${i}@example.com`, `foxden bench password ${run} ${i}`);
        }
      }),
    );
  } finally {
    agent.destroy();
  }
  return accounts;
}

// ---- workers ----

function runWorker<R extends AuthResult>(job: AuthJob): Promise<R> {
  const timeoutMs = job.measureTo - nowMs() + 90_000;
  return runInChild<R>({ script: WORKER, cwd: root, name: `${job.mode} worker`, timeoutMs, bound: 'its time bound' }, job);
}

/** Traffic from START_MS (+ leadMs) from now, WARMUP unmeasured, then one round measured. */
function windowFromNow(leadMs = 0) {
  const startAt = nowMs() + START_MS + leadMs;
  const measureFrom = startAt + WARMUP * 1000;
  return { startAt, measureFrom, measureTo: measureFrom + ROUND_SECONDS * 1000 };
}

// ---- pooling rounds ----

function mergeProblems(list: Problems[]): Problems {
  const out = newProblems();
  for (const p of list) {
    out.unexpected += p.unexpected;
    out.serverErrors += p.serverErrors;
    out.transport += p.transport;
    for (const [status, n] of Object.entries(p.statuses)) out.statuses[status] = (out.statuses[status] ?? 0) + n;
    for (const e of p.examples) if (out.examples.length < 8) out.examples.push(e);
  }
  return out;
}

const sum = (values: number[]) => values.reduce((a, b) => a + b, 0);

function mergeScrypt(rounds: ScryptResult[]): ScryptResult {
  const samples = rounds.flatMap((r) => r.samples);
  const seconds = sum(rounds.map((r) => r.seconds));
  return { mode: 'scrypt', concurrency: rounds[0]!.concurrency, completed: samples.length, seconds, perSecond: samples.length / seconds, latency: summarize(samples), samples, cpuSeconds: sum(rounds.map((r) => r.cpuSeconds)) };
}

function mergeLogins(rounds: LoginResult[]): LoginResult {
  const samples = rounds.flatMap((r) => r.samples);
  const busySamples = rounds.flatMap((r) => r.busySamples);
  const seconds = sum(rounds.map((r) => r.seconds));
  const retryAfter: Record<string, number> = {};
  for (const r of rounds) for (const [k, n] of Object.entries(r.retryAfter)) retryAfter[k] = (retryAfter[k] ?? 0) + n;
  return {
    mode: 'logins',
    clients: rounds[0]!.clients,
    seconds,
    ok: samples.length,
    perSecond: samples.length / seconds,
    busy: busySamples.length,
    busyTotal: sum(rounds.map((r) => r.busyTotal)),
    retryAfter,
    latency: summarize(samples),
    busyLatency: summarize(busySamples),
    problems: mergeProblems(rounds.map((r) => r.problems)),
    samples,
    busySamples,
    cpuSeconds: sum(rounds.map((r) => r.cpuSeconds)),
  };
}

function mergeStorage(rounds: StorageResult[]): StorageResult {
  const byKind: Record<string, number[]> = {};
  for (const r of rounds) for (const [kind, values] of Object.entries(r.samples)) (byKind[kind] ??= []).push(...values);
  const kinds: Record<string, StorageKind> = {};
  for (const [kind, values] of Object.entries(byKind)) {
    const s = summarize(values);
    kinds[kind] = { count: s.count, p50: s.p50, p99: s.p99 };
  }
  const all = Object.values(byKind).flat();
  const seconds = sum(rounds.map((r) => r.seconds));
  return {
    mode: 'storage',
    devices: rounds[0]!.devices,
    seconds,
    requests: all.length,
    rps: all.length / seconds,
    latency: summarize(all),
    kinds,
    late: sum(rounds.map((r) => r.late)),
    problems: mergeProblems(rounds.map((r) => r.problems)),
    samples: byKind,
    cpuSeconds: sum(rounds.map((r) => r.cpuSeconds)),
  };
}

function addCpu(a: CpuShare | undefined, b: CpuShare): CpuShare {
  if (!a) return b;
  return { seconds: a.seconds + b.seconds, capacity: a.capacity + b.capacity, foxden: a.foxden + b.foxden, bench: a.bench + b.bench, others: a.others + b.others };
}

// ---- one pool size ----

interface PoolReport {
  plan: PoolPlan;
  scrypt?: ScryptResult;
  logins?: LoginResult;
  quiet?: StorageResult;
  stormStorage?: StorageResult;
  storm?: LoginResult;
  cpu: Record<string, CpuShare>;
  failures: string[];
  foxdenLog: { warnings: number; errors: number; lines: string[] };
}

function printLogins(title: string, r: LoginResult): void {
  const after = Object.entries(r.retryAfter)
    .sort(([a], [b]) => Number(a) - Number(b))
    .map(([s, n]) => `${s} s x${n}`)
    .join(', ');
  log(`  ${title}:`);
  log(`    ${f2(r.perSecond)} logins/s (${r.ok} in ${f1(r.seconds)} s), p50 ${f1(r.latency.p50)} ms, p99 ${f1(r.latency.p99)} ms`);
  log(`    busy 503 (errno 201): ${r.busy} in the measured windows${r.busy ? ` (p50 ${f1(r.busyLatency.p50)} ms; Retry-After ${after})` : ''}, ${r.busyTotal} over the whole phase`);
  printProblems(r.problems);
}

function printStorage(title: string, r: StorageResult): void {
  log(`  ${title}:`);
  log(`    ${r.requests} requests (${f1(r.rps)}/s): p50 ${f2(r.latency.p50)} ms, p99 ${f2(r.latency.p99)} ms, max ${f1(r.latency.max)} ms; late sends ${r.late}`);
  for (const [kind, k] of Object.entries(r.kinds)) log(`      ${kind.padEnd(22)} ${String(k.count).padStart(5)}  p50 ${f2(k.p50).padStart(7)} ms  p99 ${f2(k.p99).padStart(7)} ms`);
  printProblems(r.problems);
}

async function runPool(plan: PoolPlan, dataDir: string, accounts: BenchAccount[], streamIndex: { next: number }): Promise<PoolReport> {
  const report: PoolReport = { plan, cpu: {}, failures: [], foxdenLog: { warnings: 0, errors: 0, lines: [] } };
  log(`\n=== scrypt pool ${plan.size} (${plan.label === 'default' ? 'the default: max(1, min(4, cores - 1))' : 'one per core'}) ===`);
  let fox: Foxden | undefined;
  const cpuNote = (phase: string) => {
    const c = report.cpu[phase];
    if (!c) return;
    log(`    ${cpuLine(c)}`);
    if (noisy(c)) log(`    WARNING: other processes took ${pct(c.others / c.capacity)} of the machine during this phase; the figure is disturbed`);
  };
  const ensureAlive = () => {
    if (fox && !fox.alive()) throw new Error(`${fox.describeExit()}; its log:\n${fox.logLines.slice(-10).join('\n')}`);
  };
  try {
    fox = await startFoxden(dataDir, plan.size, 'warn');
    const target = fox.target;
    // One sign-in first: the pool is warm, and a broken set-up fails here rather than in the figures.
    const probeAgent = keepAliveAgent(1);
    const probe = await fxaCall(fox, probeAgent, '/account/login?keys=true', { email: accounts[0]!.email, authPW: accounts[0]!.authPW }).finally(() => probeAgent.destroy());
    if (probe.status !== 200) throw new Error(`a first sign-in failed: ${probe.status} ${JSON.stringify(probe.body)}`);

    // 1. Raw scrypt, then sign-ins, alternating; each counted the same way by a worker process.
    const scryptRounds: ScryptResult[] = [];
    const loginRounds: LoginResult[] = [];
    const loginJob: Omit<LoginJob, 'startAt' | 'measureFrom' | 'measureTo'> = { mode: 'logins', target, accounts, clients: LOGIN_CLIENTS, busyPause: BUSY_PAUSE, rampMs: 0 };
    for (let round = 1; round <= ROUNDS; round++) {
      checkInterrupted();
      let meter = new CpuMeter(fox.pid);
      const s = await runWorker<ScryptResult>({ mode: 'scrypt', concurrency: plan.size, ...windowFromNow() });
      report.cpu.scrypt = addCpu(report.cpu.scrypt, meter.read(s.cpuSeconds));
      scryptRounds.push(s);
      ensureAlive();
      meter = new CpuMeter(fox.pid);
      const l = await runWorker<LoginResult>({ ...loginJob, ...windowFromNow() });
      report.cpu.logins = addCpu(report.cpu.logins, meter.read(l.cpuSeconds));
      loginRounds.push(l);
      ensureAlive();
      log(`  round ${round}/${ROUNDS}: raw scrypt ${f2(s.perSecond)}/s, logins ${f2(l.perSecond)}/s (busy 503: ${l.busy})`);
    }
    report.scrypt = mergeScrypt(scryptRounds);
    report.logins = mergeLogins(loginRounds);
    log(`  raw crypto.scrypt (N=65536 r=8 p=1), ${plan.size} in flight, in a worker process:`);
    log(`    ${f2(report.scrypt.perSecond)} scrypt/s (${report.scrypt.completed} in ${f1(report.scrypt.seconds)} s), p50 ${f1(report.scrypt.latency.p50)} ms, p99 ${f1(report.scrypt.latency.p99)} ms`);
    cpuNote('scrypt');
    printLogins(`POST /auth/v1/account/login?keys=true, ${LOGIN_CLIENTS} clients`, report.logins);
    cpuNote('logins');

    // 2. Storage latency, quiet, then during a storm of sign-ins, alternating.
    const storageJob: Omit<StorageJob, 'startAt' | 'measureFrom' | 'measureTo' | 'uidBase'> = { mode: 'storage', target, secret: BENCH_SECRET, devices: DEVICES, rate: RATE, seed: 7 };
    const quietRounds: StorageResult[] = [];
    const stormStorageRounds: StorageResult[] = [];
    const stormRounds: LoginResult[] = [];
    for (let round = 1; round <= ROUNDS; round++) {
      checkInterrupted();
      let meter = new CpuMeter(fox.pid);
      const q = await runWorker<StorageResult>({ ...storageJob, uidBase: UID_STORAGE + 100 * streamIndex.next++, ...windowFromNow() });
      report.cpu.quiet = addCpu(report.cpu.quiet, meter.read(q.cpuSeconds));
      quietRounds.push(q);
      ensureAlive();
      meter = new CpuMeter(fox.pid);
      const w = windowFromNow(STORM_LEAD_MS);
      const [st, storm] = await Promise.all([
        runWorker<StorageResult>({ ...storageJob, uidBase: UID_STORAGE + 100 * streamIndex.next++, ...w }),
        // The storm's clients join over STORM_LEAD_MS before the storage stream starts; it is counted over the same window.
        runWorker<LoginResult>({ ...loginJob, clients: STORM_CLIENTS, rampMs: STORM_LEAD_MS, ...w, startAt: w.startAt - STORM_LEAD_MS }),
      ]);
      report.cpu.storm = addCpu(report.cpu.storm, meter.read(st.cpuSeconds + storm.cpuSeconds));
      stormStorageRounds.push(st);
      stormRounds.push(storm);
      ensureAlive();
      log(`  round ${round}/${ROUNDS}: storage p99 quiet ${f2(q.latency.p99)} ms, storm ${f2(st.latency.p99)} ms (storm: ${f2(storm.perSecond)} logins/s, busy 503: ${storm.busy} in the window, ${storm.busyTotal} in all)`);
    }
    report.quiet = mergeStorage(quietRounds);
    report.stormStorage = mergeStorage(stormStorageRounds);
    report.storm = mergeLogins(stormRounds);
    printStorage(`Sync storage, ${DEVICES} devices x ${RATE} req/s, quiet`, report.quiet);
    cpuNote('quiet');
    printStorage(`Sync storage, same stream, during a storm of ${STORM_CLIENTS} sign-in clients`, report.stormStorage);
    printLogins('the storm, over the same windows', report.storm);
    cpuNote('storm');
  } catch (err) {
    report.failures.push((err as Error).message);
    log(`  FAILED: ${(err as Error).message}`);
  } finally {
    if (fox) {
      const wasAlive = fox.alive();
      await stopChild(fox.child);
      if (!wasAlive) report.failures.push(`Foxden died during the run: ${fox.describeExit()}`);
      report.foxdenLog = { warnings: fox.warnings, errors: fox.errors, lines: fox.logLines.slice(0, 10) };
      if (fox.warnings + fox.errors > 0) {
        log(`  Foxden logged ${fox.warnings} warning(s) and ${fox.errors} error(s); first lines:`);
        for (const l of fox.logLines.slice(0, 10)) log(`    ${l}`);
      }
    }
  }
  return report;
}

// ---- summary ----

function summary(reports: PoolReport[], load: { before: number[]; after: number[] }): void {
  const rows: string[][] = [['pool', 'figure', 'foxden', 'baseline', 'ratio', 'target', 'result']];
  for (const r of reports) {
    const p = `${r.plan.size} (${r.plan.label})`;
    const b = r.plan.binding;
    if (r.logins && r.scrypt) {
      const ratio = r.logins.perSecond / r.scrypt.perSecond;
      rows.push([p, `logins/s, ${LOGIN_CLIENTS} clients`, f2(r.logins.perSecond), `${f2(r.scrypt.perSecond)} raw scrypt/s`, pct(ratio), `>= ${pct(TARGET_LOGIN_RATIO)}`, verdict(ratio >= TARGET_LOGIN_RATIO, b)]);
      rows.push([p, '  busy 503 in that phase (windows / all)', `${r.logins.busy} / ${r.logins.busyTotal}`, '', '', 'info', '']);
    } else rows.push([p, 'logins/s vs raw scrypt/s', 'not measured', '', '', '', 'FAIL']);
    if (r.quiet && r.stormStorage && r.storm) {
      const ratio = r.stormStorage.latency.p99 / r.quiet.latency.p99;
      rows.push([p, 'storage p99 ms: storm vs quiet', f2(r.stormStorage.latency.p99), `${f2(r.quiet.latency.p99)} quiet`, f2(ratio), `<= ${f2(TARGET_P99_RATIO)}`, verdict(ratio <= TARGET_P99_RATIO, b)]);
      rows.push([p, '  storage p50 ms: storm vs quiet', f2(r.stormStorage.latency.p50), `${f2(r.quiet.latency.p50)} quiet`, f2(r.stormStorage.latency.p50 / r.quiet.latency.p50), 'info', '']);
      rows.push([p, `  storm (${STORM_CLIENTS} clients): logins/s`, f2(r.storm.perSecond), '', '', 'info', '']);
      rows.push([p, '  storm: busy 503 (windows / all)', `${r.storm.busy} / ${r.storm.busyTotal}`, '', '', 'info', '']);
    } else rows.push([p, 'storage p99 storm vs quiet', 'not measured', '', '', '', 'FAIL']);
    const shares = Object.values(r.cpu).filter((c) => Number.isFinite(c.others));
    if (shares.length > 0) {
      const worst = Math.max(...shares.map((c) => c.others / c.capacity));
      rows.push([p, 'CPU taken by other processes (worst phase)', pct(worst), '', '', '< 10%', worst < 0.1 ? 'quiet' : 'NOISY']);
    }
    const problems = [r.logins?.problems, r.quiet?.problems, r.stormStorage?.problems, r.storm?.problems].filter((x): x is Problems => x !== undefined);
    const bad = problems.reduce((s, x) => s + x.unexpected, 0);
    const none = problems.reduce((s, x) => s + x.transport, 0);
    rows.push([p, 'errors: bad status / no answer', `${bad} / ${none}`, '', '', '0', verdict(bad + none === 0 && r.failures.length === 0, true)]);
  }
  const la = (v: number[]) => v.map((x) => x.toFixed(2)).join(' ');
  log(`\n=== summary: ${CORES} cores (os.availableParallelism()), ${SECONDS} s measured per phase in ${ROUNDS} round(s) ===`);
  for (const line of table(rows)) log(line);
  log(`load average (1/5/15 min): ${la(load.before)} before, ${la(load.after)} after`);
  if (!POOLS.some((p) => p.label === 'cores') && opts.pools === 'both') log(`(the default pool already has one thread per core: the per-core run is skipped)`);
  for (const r of reports) for (const f of r.failures) log(`pool ${r.plan.size}: ${f}`);
}

// ---- main ----

async function main(): Promise<number> {
  const load = { before: loadavg(), after: [] as number[] };
  log(`Foxden auth bench: ${CORES} cores, scrypt pools ${POOLS.map((p) => `${p.size} (${p.label})`).join(', ')}; ${SECONDS} s per phase in ${ROUNDS} round(s); node ${process.version}; Foxden ${foxdenVersion(root)}`);
  log(`load average before: ${load.before.map((x) => x.toFixed(2)).join(' ')}`);
  const dataDir = mkdtempSync(join(tmpdir(), 'foxden-bench-auth-'));
  atCleanup(() => rmSync(dataDir, { recursive: true, force: true }));
  const reports: PoolReport[] = [];
  try {
    log(`\ncreating and verifying ${ACCOUNTS} accounts (sign-up codes read from Foxden's log)…`);
    const t0 = performance.now();
    const setup = await startFoxden(dataDir, CORES, 'info');
    let accounts: BenchAccount[];
    try {
      accounts = await createAccounts(setup, ACCOUNTS);
    } finally {
      await stopChild(setup.child);
    }
    log(`  done in ${f1((performance.now() - t0) / 1000)} s`);
    const streamIndex = { next: 0 };
    for (const plan of POOLS) if (!isInterrupted()) reports.push(await runPool(plan, dataDir, accounts, streamIndex));
  } catch (err) {
    log(`FAILED: ${(err as Error).message}`);
    await cleanupAll();
    return 1;
  } finally {
    await cleanupAll();
  }
  load.after = loadavg();
  summary(reports, load);
  return reports.length === POOLS.length && reports.every((r) => r.failures.length === 0) ? 0 : 1;
}

runBench(main, HARD_LIMIT_MS);
