import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BENCH_SECRET, type Target } from '../common/client.js';
import { machineBusySeconds, noisy, statFields } from '../common/cpu.js';
import { FoxdenChild, HOST, foxdenRoot, foxdenVersion, freePort, heartbeatWithin } from '../common/foxden.js';
import { runInChild } from '../common/jobs.js';
import { idleRss } from '../common/memory.js';
import { engines, parseOptions, usageError, wholeNumber, type Engine } from '../common/options.js';
import { DEFAULT_PG_ADMIN_URL, createBenchDatabase, localPgUrl, pgAdmin, pgProcesses } from '../common/postgres.js';
import { atCleanup, checkInterrupted, cleanupAll, exited, isInterrupted, runBench, stopChild, track, trackedChildren } from '../common/processes.js';
import { f0, f1, f2, log, pct, printProblems, table, verdict, type LatencySummary, type Problems } from '../common/report.js';
import { nowMs, type BenchUser, type LoopJob, type LoopResult, type ProbeJob, type ProbeResult, type SetupJob, type SetupResult, type TokensJob, type TokensResult } from './common.js';

// Foxden tokens benchmark (bench/README.md, "Tokens benchmark"): the bridge from a signed-in
// account to Sync. For each engine: sign up and confirm --users accounts and take each to Sync
// (unmeasured, on a Foxden with one scrypt thread per core); then, on a fresh Foxden, idle RSS,
// and closed loops of --clients clients: token refreshes (fxa-credentials + tokenserver),
// GET info/collections, a one-client probe alternating tokenserver and info/collections
// requests, and new devices connecting (code + PKCE + keys_jwe, destroy, token, tokenserver);
// then idle RSS again. Everything runs on 127.0.0.1, every phase has a time bound, and all
// children, files and databases are removed at the end.


const USAGE = `usage: npm run bench:tokens -- [options]
  --engine sqlite|postgres|both   engines to run, in that order (default both)
  --users N                       accounts set up (unmeasured) and cycled through (default 200)
  --clients C                     concurrent clients of each closed loop (default 8)
  --seconds S                     measured seconds of each closed loop (default 10)
  --warmup S                      unmeasured seconds before each closed loop (default 1)
  --max-ops N                     a closed loop also ends after N counted operations (default 100000)
  --probe-pairs N                 tokenserver + info/collections pairs of the one-client probe (default 400)
  --devices D                     devices per user, for the throughput targets (default 3)
  --pg-url URL                    PostgreSQL admin URL on 127.0.0.1 (default postgres://postgres@127.0.0.1:5432/postgres)`;

// ---- options ----

const opts = parseOptions(USAGE, {
  engine: { type: 'string', default: 'both' },
  users: { type: 'string', default: '200' },
  clients: { type: 'string', default: '8' },
  seconds: { type: 'string', default: '10' },
  warmup: { type: 'string', default: '1' },
  'max-ops': { type: 'string', default: '100000' },
  'probe-pairs': { type: 'string', default: '400' },
  devices: { type: 'string', default: '3' },
  'pg-url': { type: 'string', default: DEFAULT_PG_ADMIN_URL },
});

function intOption(name: keyof typeof opts, min: number, max: number): number {
  return wholeNumber(USAGE, name, String(opts[name]), min, max);
}

const USERS = intOption('users', 1, 5000);
const CLIENTS = intOption('clients', 1, 256);
const SECONDS = intOption('seconds', 1, 600);
const WARMUP = intOption('warmup', 0, 60);
const MAX_OPS = intOption('max-ops', 1, 10_000_000);
const PROBE_PAIRS = intOption('probe-pairs', 10, 100_000);
const DEVICES = intOption('devices', 1, 20);
const ENGINES = engines(USAGE, String(opts.engine));
// The bench only ever talks to this machine.
const PG_ADMIN = localPgUrl(USAGE, String(opts['pg-url']));

const CORES = availableParallelism();
/** Sign-ups in flight during set-up: two per scrypt thread, so the pool never waits for a client. */
const SETUP_CONCURRENCY = 2 * CORES;
const PROBE_WARMUP = 50;
/** The probe stops after this long whatever the pair count. */
const PROBE_MAX_SECONDS = 20;
/** Time given to a worker process to start and derive its users' Hawk keys before traffic. */
const START_MS = 1000;
/** Idle RSS: V8 gives memory back about 10 s into idleness; then wait for RSS to stay put for 2 s. */
const IDLE_RSS = { minWaitMs: 10_000, maxWaitMs: 20_000, stableMs: 2_000 };

// Targets (bench/README.md says why each).
/** A tokenserver request costs at most this many info/collections requests (one client, p50). */
const TARGET_TS_RATIO = 3;
/** Every device of every user can refresh within this many seconds (a herd after an outage). */
const HERD_SECONDS = 10;
/** Users covered per server core-second: FOXDEN_NODE_CAPACITY's default, 100,000 users, refreshing hourly on one core. */
const NODE_CAPACITY = 100_000;
const TARGET_USERS_PER_CORE_SECOND = NODE_CAPACITY / 3600;
/** A new device's connection costs at most this many token refreshes (p50 over p50). */
const TARGET_CONNECT_RATIO = 4;
const TARGET_RSS_GROWTH_MB = 30;

const here = dirname(fileURLToPath(import.meta.url));
const root = foxdenRoot(here);
const CLI = join(root, 'dist', 'cli.js');
const WORKER = join(here, 'worker.js');
if (!existsSync(CLI)) usageError(USAGE, `${CLI} is missing: run npm run build first (npm run bench:tokens does)`);

const LOOP_MS = (WARMUP + SECONDS) * 1000 + START_MS;
const SETUP_MS = 60_000 + USERS * 2000;
// The whole run has a hard upper bound, whatever happens inside.
const HARD_LIMIT_MS = ENGINES.length * (SETUP_MS + 3 * (LOOP_MS + 60_000) + (PROBE_MAX_SECONDS + 60) * 1000 + 2 * IDLE_RSS.maxWaitMs + 120_000);

// ---- CPU: who used the machine inside a measured window ----

/**
 * user + system CPU seconds of a process and of its reaped children (cutime, cstime), and with
 * `live` of its live children too (found by ppid); 0 once gone.
 */
function treeCpuSeconds(pid: number, live = true): number {
  const f = statFields(pid);
  if (!f) return 0;
  let ticks = f[11]! + f[12]! + f[13]! + f[14]!;
  if (!live) return ticks / 100;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const c = statFields(entry);
    if (c && c[1] === pid) ticks += c[11]! + c[12]!;
  }
  return ticks / 100;
}

function cpuSeconds(pid: number): number {
  const f = statFields(pid);
  return f ? (f[11]! + f[12]!) / 100 : 0;
}

interface CpuShare {
  seconds: number;
  /** Core-seconds the machine had (cores x seconds). */
  capacity: number;
  /** Foxden and its children (the scrypt helper, idle here). */
  foxden: number;
  /** Backends of the bench database and the server's background workers. */
  postgres: number;
  /** This process and the worker. */
  bench: number;
  others: number;
}

interface Snapshot {
  t: number;
  busy: number;
  foxden: number;
  postgres: Map<number, number>;
  bench: number;
}

/** Reads the CPU counters at the opening and the closing of a worker's measured window. */
class WindowMeter {
  private first: Snapshot | undefined;
  private last: Snapshot | undefined;
  private readonly timers: NodeJS.Timeout[] = [];

  constructor(
    private readonly foxPid: number,
    private readonly dbName: string | undefined,
    from: number,
    to: number,
  ) {
    this.timers.push(setTimeout(() => (this.first ??= this.snapshot()), Math.max(0, from - nowMs())));
    this.timers.push(setTimeout(() => (this.last ??= this.snapshot()), Math.max(0, to - nowMs())));
  }

  private snapshot(): Snapshot {
    // This process with its reaped children (a worker that exits inside the window moves there), plus the live ones.
    const self = treeCpuSeconds(process.pid, false);
    const workers = trackedChildren()
      .filter((c) => c.pid !== this.foxPid && !exited(c))
      .reduce((s, c) => s + cpuSeconds(c.pid!), 0);
    return {
      t: performance.now(),
      busy: machineBusySeconds(),
      foxden: treeCpuSeconds(this.foxPid),
      postgres: new Map(pgProcesses(this.dbName).map((pid) => [pid, cpuSeconds(pid)])),
      bench: self + workers,
    };
  }

  /** The share over the window; a window the worker closed early (--max-ops) ends now. */
  finish(): CpuShare {
    for (const t of this.timers) clearTimeout(t);
    this.first ??= this.snapshot();
    this.last ??= this.snapshot();
    const a = this.first;
    const b = this.last;
    const seconds = (b.t - a.t) / 1000;
    let postgres = 0;
    for (const [pid, s] of b.postgres) postgres += s - (a.postgres.get(pid) ?? 0);
    const foxden = b.foxden - a.foxden;
    const bench = b.bench - a.bench;
    const busy = b.busy - a.busy;
    return { seconds, capacity: seconds * CORES, foxden, postgres, bench, others: Math.max(0, busy - foxden - postgres - bench) };
  }
}

function cpuLine(c: CpuShare): string {
  const pgPart = c.postgres > 0.05 ? `, PostgreSQL ${f1(c.postgres)}` : '';
  return `CPU core-seconds of ${f1(c.capacity)}: Foxden ${f1(c.foxden)}${pgPart}, bench processes ${f1(c.bench)}, other processes ${f1(c.others)}`;
}

// ---- Foxden ----

class Foxden extends FoxdenChild {
  ensureAlive(): void {
    if (!this.alive()) throw new Error(`${this.describeExit()}; its log:\n${this.logLines.slice(-10).join('\n')}`);
  }
}

interface EngineDb {
  engine: Engine;
  dataDir: string;
  /** PostgreSQL only. */
  url?: string;
  dbName?: string;
}

async function createEngineDb(engine: Engine): Promise<EngineDb> {
  const dataDir = mkdtempSync(join(tmpdir(), `foxden-bench-tokens-${engine}-`));
  atCleanup(() => rmSync(dataDir, { recursive: true, force: true }), dataDir);
  if (engine === 'sqlite') return { engine, dataDir };
  const { name, url } = await createBenchDatabase(PG_ADMIN);
  return { engine, dataDir, url, dbName: name };
}

/** Foxden as a self-hoster runs it for a family: open registration here, so the bench can sign up many accounts. */
async function startFoxden(db: EngineDb, port: number, scryptConcurrency?: number): Promise<Foxden> {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('FOXDEN_') && k !== 'NODE_OPTIONS') env[k] = v;
  Object.assign(env, {
    FOXDEN_HOST: HOST,
    FOXDEN_PORT: String(port),
    FOXDEN_PUBLIC_URL: `http://${HOST}:${port}`,
    FOXDEN_DATA_DIR: db.dataDir,
    ...(db.url ? { FOXDEN_DATABASE_URL: db.url } : {}),
    FOXDEN_SYNC_MASTER_SECRET: BENCH_SECRET,
    FOXDEN_REGISTRATION: 'open',
    FOXDEN_RATE_LIMITS: 'off',
    FOXDEN_SIGNIN_CONFIRMATION: 'never',
    FOXDEN_LOG_LEVEL: 'warn',
    ...(scryptConcurrency ? { FOXDEN_SCRYPT_CONCURRENCY: String(scryptConcurrency) } : {}),
  });
  const child = track(spawn(process.execPath, [CLI, 'serve'], { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] }));
  const fox = new Foxden(child, port);
  if (await heartbeatWithin(fox, 30_000)) return fox;
  await stopChild(child);
  throw new Error('Foxden did not answer /__heartbeat__ within 30 s');
}

// ---- workers ----

function runWorker<R extends TokensResult>(job: TokensJob, timeoutMs: number): Promise<R> {
  return runInChild<R>({ script: WORKER, cwd: root, name: `${job.mode} worker`, timeoutMs, bound: `${Math.round(timeoutMs / 1000)} s` }, job);
}

/** Traffic from START_MS from now, WARMUP unmeasured, then SECONDS measured. */
function windowFromNow() {
  const startAt = nowMs() + START_MS;
  const measureFrom = startAt + WARMUP * 1000;
  return { startAt, measureFrom, measureTo: measureFrom + SECONDS * 1000, maxOps: MAX_OPS };
}

// ---- one engine ----

interface EngineReport {
  engine: Engine;
  setup?: SetupResult;
  rssStart?: number;
  rssAfter?: number;
  refresh?: LoopResult;
  info?: LoopResult;
  probe?: ProbeResult;
  burst?: LoopResult;
  cpu: Record<string, CpuShare>;
  failures: string[];
  foxdenLog: { warnings: number; errors: number; lines: string[] };
}

const ms = (s: LatencySummary | undefined) => (s ? `p50 ${f2(s.p50).padStart(7)} ms  p99 ${f2(s.p99).padStart(7)} ms` : '-');

function printLoop(title: string, r: LoopResult, unit: string, units: string): void {
  log(`  ${title}:`);
  log(`    ${f1(r.perSecond)} ${units}/s (${r.ops} in ${f1(r.seconds)} s; ${r.requests} requests answered in the window), per ${unit}: ${ms(r.total)}`);
  if (r.wall) log(`    with the browser's own crypto (P-256 key pair, keys_jwe sealed and opened): ${ms(r.wall)}`);
  for (const [kind, s] of Object.entries(r.steps)) log(`      ${kind.padEnd(34)} ${String(s.count).padStart(6)}  ${ms(s)}`);
  printProblems(r.problems, '    ');
}

async function runEngine(engine: Engine): Promise<EngineReport> {
  const report: EngineReport = { engine, cpu: {}, failures: [], foxdenLog: { warnings: 0, errors: 0, lines: [] } };
  log(`\n=== ${engine} ===`);
  const noteLog = (fox: Foxden) => {
    report.foxdenLog.warnings += fox.warnings;
    report.foxdenLog.errors += fox.errors;
    for (const l of fox.logLines) if (report.foxdenLog.lines.length < 20) report.foxdenLog.lines.push(l);
  };
  const stopFoxden = async (fox: Foxden, label: string) => {
    const wasAlive = fox.alive();
    await stopChild(fox.child);
    noteLog(fox);
    if (!wasAlive) report.failures.push(`Foxden (${label}) died during the run: ${fox.describeExit()}`);
  };
  const cpuNote = (phase: string) => {
    const c = report.cpu[phase];
    if (!c) return;
    log(`    ${cpuLine(c)}`);
    if (noisy(c)) log(`    WARNING: other processes took ${pct(c.others / c.capacity)} of the machine during this measurement; the figure is disturbed`);
  };

  try {
    const db = await createEngineDb(engine);

    // Set-up, unmeasured: one scrypt thread per core, so the sign-ups go as fast as the machine allows.
    log(`  setting up ${USERS} users (sign-up, code from the outbox, keys, scoped-key-data, oldsync token, tokenserver, meta/global + crypto/keys), ${SETUP_CONCURRENCY} at a time, scrypt pool ${CORES}…`);
    // One port for both Foxdens: the measured one is the same server restarted, so the nodes row,
    // the OAuth issuer and every token from set-up stay what they were.
    const port = await freePort();
    const setupFox = await startFoxden(db, port, CORES);
    let users: BenchUser[];
    try {
      const job: SetupJob = { mode: 'setup', target: setupFox.target, dataDir: db.dataDir, users: USERS, concurrency: SETUP_CONCURRENCY, tag: randomBytes(3).toString('hex') };
      report.setup = await runWorker<SetupResult>(job, SETUP_MS);
      users = report.setup.users;
    } finally {
      await stopFoxden(setupFox, 'set-up');
    }
    const s = report.setup;
    log(`    done in ${f1(s.seconds)} s (${f1(USERS / s.seconds)} users/s); busy 503s retried: ${s.busy}`);
    for (const [step, l] of Object.entries(s.steps)) log(`      ${step.padEnd(34)} ${String(l.count).padStart(6)}  ${ms(l)}`);

    // The measured Foxden: default settings but for the bench's own (registration, limits, confirmation).
    checkInterrupted();
    const fox = await startFoxden(db, port);
    try {
      const rss0 = await idleRss(fox.pid, IDLE_RSS);
      report.rssStart = rss0.settled;
      log(`  RSS after start-up: ${f1(rss0.first)} MB at once, ${f1(rss0.settled)} MB idle (settled after ${f1(rss0.waited)} s)`);

      const loop = async (mode: LoopJob['mode']): Promise<LoopResult> => {
        checkInterrupted();
        const w = windowFromNow();
        const meter = new WindowMeter(fox.pid, db.dbName, w.measureFrom, w.measureTo);
        let result: LoopResult;
        try {
          result = await runWorker<LoopResult>({ mode, target: fox.target, users, clients: CLIENTS, ...w }, LOOP_MS + 90_000);
        } catch (err) {
          meter.finish();
          // Say whether Foxden itself still answers: a stuck server and a stuck worker read alike otherwise.
          const answers = fox.alive() && (await heartbeatWithin(fox, 2000).catch(() => false));
          throw new Error(`${(err as Error).message} (Foxden ${answers ? 'still answers' : 'does not answer'} /__heartbeat__)`);
        }
        report.cpu[mode] = meter.finish();
        fox.ensureAlive();
        return result;
      };

      report.refresh = await loop('refresh');
      printLoop(`token refresh (POST oauth/token fxa-credentials oldsync, then GET /token/1.0/sync/1.5), ${CLIENTS} clients`, report.refresh, 'refresh', 'refreshes');
      cpuNote('refresh');

      report.info = await loop('info');
      printLoop(`baseline: GET /1.5/{uid}/info/collections, ${CLIENTS} clients`, report.info, 'request', 'requests');
      cpuNote('info');

      checkInterrupted();
      const probeJob: ProbeJob = { mode: 'probe', target: fox.target, users, warmup: PROBE_WARMUP, pairs: PROBE_PAIRS, maxSeconds: PROBE_MAX_SECONDS };
      const meter = new WindowMeter(fox.pid, db.dbName, nowMs(), nowMs() + 3_600_000);
      try {
        report.probe = await runWorker<ProbeResult>(probeJob, (PROBE_MAX_SECONDS + 60) * 1000);
      } finally {
        report.cpu.probe = meter.finish();
      }
      fox.ensureAlive();
      log(`  one client, a tokenserver request (the access token from set-up) and an info/collections request in turn:`);
      log(`    ${report.probe.pairs} pairs in ${f1(report.probe.seconds)} s (after ${PROBE_WARMUP} unmeasured)`);
      log(`      GET tokenserver                        ${ms(report.probe.tokenserver)}`);
      log(`      GET info/collections                   ${ms(report.probe.info)}`);
      printProblems(report.probe.problems, '    ');
      cpuNote('probe');

      report.burst = await loop('burst');
      printLoop(`sign-in burst: new devices connecting (scoped-key-data, authorization with keys_jwe, code + PKCE, destroy, fxa-credentials, tokenserver), ${CLIENTS} clients`, report.burst, 'connection', 'connections');
      cpuNote('burst');

      const rss1 = await idleRss(fox.pid, IDLE_RSS);
      report.rssAfter = rss1.settled;
      log(`  RSS after the run: ${f1(rss1.first)} MB at once, ${f1(rss1.settled)} MB idle (settled after ${f1(rss1.waited)} s)`);
    } finally {
      await stopFoxden(fox, 'measured');
    }
  } catch (err) {
    report.failures.push((err as Error).message);
    log(`  FAILED: ${(err as Error).message}`);
  }
  if (report.foxdenLog.warnings + report.foxdenLog.errors > 0) {
    log(`  Foxden logged ${report.foxdenLog.warnings} warning(s) and ${report.foxdenLog.errors} error(s); first lines:`);
    for (const l of report.foxdenLog.lines.slice(0, 10)) log(`    ${l}`);
  }
  return report;
}

// ---- summary ----

function summary(reports: EngineReport[], load: { before: number[]; after: number[] }): void {
  const rows: string[][] = [['engine', 'figure', 'foxden', 'baseline', 'ratio', 'target', 'result']];
  const herdRate = (USERS * DEVICES) / HERD_SECONDS;
  const hourlyRate = (USERS * DEVICES) / 3600;
  for (const r of reports) {
    const e = r.engine;
    const missing = (figure: string) => rows.push([e, figure, 'not measured', '', '', '', 'FAIL']);

    if (r.probe && r.probe.pairs > 0) {
      const ratio = r.probe.tokenserver.p50 / r.probe.info.p50;
      rows.push([e, 'tokenserver p50 vs info/collections p50 (1 client): ms', f2(r.probe.tokenserver.p50), `${f2(r.probe.info.p50)} info/coll.`, `${f2(ratio)}x`, `<= ${TARGET_TS_RATIO}x`, verdict(ratio <= TARGET_TS_RATIO, true)]);
      rows.push([e, '  same, p99: ms', f2(r.probe.tokenserver.p99), `${f2(r.probe.info.p99)} info/coll.`, `${f2(r.probe.tokenserver.p99 / r.probe.info.p99)}x`, 'info', '']);
    } else missing('tokenserver p50 vs info/collections p50 (1 client)');
    if (r.refresh && r.info) {
      const ts = r.refresh.steps['GET tokenserver'];
      if (ts) rows.push([e, `  closed loop (${CLIENTS} clients): tokenserver in refreshes vs info/coll.: p50 ms`, f2(ts.p50), `${f2(r.info.total.p50)} info/coll.`, `${f2(ts.p50 / r.info.total.p50)}x`, 'info', '']);
      rows.push([e, `  info/collections (${CLIENTS} clients): req/s`, f0(r.info.perSecond), '', '', 'info', '']);
    }

    if (r.refresh) {
      const ratio = r.refresh.perSecond / herdRate;
      rows.push([e, `token refreshes/s (${CLIENTS} clients)`, f1(r.refresh.perSecond), `${f1(herdRate)}/s: ${USERS} users x ${DEVICES} devices in ${HERD_SECONDS} s`, `${f2(ratio)}x`, '>= 1x', verdict(ratio >= 1, true)]);
      rows.push([e, `  over their hourly refreshes (${f2(hourlyRate)}/s)`, f1(r.refresh.perSecond), '', `${f0(r.refresh.perSecond / hourlyRate)}x`, 'info', '']);
      rows.push([e, '  refresh p50 / p99: ms', `${f2(r.refresh.total.p50)} / ${f2(r.refresh.total.p99)}`, '', '', 'info', '']);
      const c = r.cpu.refresh;
      const server = c ? c.foxden + c.postgres : NaN;
      const perCoreSecond = r.refresh.ops / server;
      const usersPerCoreSecond = perCoreSecond / DEVICES;
      const cpuText = c ? `Foxden ${f1(c.foxden)}${e === 'postgres' ? ` + PostgreSQL ${f1(c.postgres)}` : ''} core-s` : '';
      rows.push([
        e,
        `users' hourly refreshes one server core-second covers (${DEVICES} devices)`,
        f0(usersPerCoreSecond),
        `${f0(perCoreSecond)} refreshes per core-s (${cpuText})`,
        '',
        `>= ${f1(TARGET_USERS_PER_CORE_SECOND)}`,
        verdict(usersPerCoreSecond >= TARGET_USERS_PER_CORE_SECOND, true),
      ]);
    } else missing('token refreshes/s');

    if (r.burst && r.refresh) {
      const ratio = r.burst.total.p50 / r.refresh.total.p50;
      rows.push([e, `sign-in connection p50 vs token refresh p50 (${CLIENTS} clients): ms`, f2(r.burst.total.p50), `${f2(r.refresh.total.p50)} refresh`, `${f2(ratio)}x`, `<= ${TARGET_CONNECT_RATIO}x`, verdict(ratio <= TARGET_CONNECT_RATIO, true)]);
      rows.push([e, '  connection p99 ms; connections/s', `${f2(r.burst.total.p99)}; ${f1(r.burst.perSecond)}/s`, '', '', 'info', '']);
    } else missing('sign-in connection vs token refresh');

    if (r.rssStart !== undefined && r.rssAfter !== undefined) {
      const growth = r.rssAfter - r.rssStart;
      const requests = (r.refresh?.requests ?? 0) + (r.info?.requests ?? 0) + (r.burst?.requests ?? 0) + 2 * (r.probe?.pairs ?? 0);
      rows.push([e, 'idle RSS growth over the run: MB', f1(growth), `${f1(r.rssStart)} -> ${f1(r.rssAfter)} MB; ~${f0(requests)} requests`, '', `<= ${TARGET_RSS_GROWTH_MB} MB`, verdict(growth <= TARGET_RSS_GROWTH_MB, true)]);
    } else missing('idle RSS growth');

    const shares = Object.values(r.cpu);
    if (shares.length > 0) {
      const worst = Math.max(...shares.map((c) => c.others / c.capacity));
      rows.push([e, 'CPU taken by other processes (worst phase)', pct(worst), '', '', '< 10%', worst < 0.1 ? 'quiet' : 'NOISY']);
    }
    const problems = [r.refresh?.problems, r.info?.problems, r.probe?.problems, r.burst?.problems].filter((p): p is Problems => p !== undefined);
    const unexpected = problems.reduce((s, p) => s + p.unexpected, 0);
    const fivexx = problems.reduce((s, p) => s + p.serverErrors, 0);
    const transport = problems.reduce((s, p) => s + p.transport, 0);
    rows.push([e, 'errors: bad answer / 5xx / no answer', `${unexpected} / ${fivexx} / ${transport}`, '', '', '0', verdict(unexpected + transport === 0 && r.failures.length === 0, true)]);
  }
  const la = (v: number[]) => v.map((x) => x.toFixed(2)).join(' ');
  log(`\n=== summary: ${USERS} users, ${CLIENTS} clients, ${SECONDS} s per closed loop, ${CORES} cores ===`);
  for (const line of table(rows)) log(line);
  log(`load average (1/5/15 min): ${la(load.before)} before, ${la(load.after)} after`);
  for (const r of reports) for (const f of r.failures) log(`${r.engine}: ${f}`);
}

// ---- main ----

async function main(): Promise<number> {
  const load = { before: loadavg(), after: [] as number[] };
  log(`Foxden tokens bench: engines ${ENGINES.join(', ')}; ${USERS} users, ${CLIENTS} clients, ${WARMUP} + ${SECONDS} s per closed loop; ${CORES} cores; node ${process.version}; Foxden ${foxdenVersion(root)}`);
  if (ENGINES.includes('postgres')) {
    try {
      await pgAdmin(PG_ADMIN, (c) => c.query('select 1'));
    } catch (err) {
      console.error(`PostgreSQL is not reachable at ${PG_ADMIN.toString()}: ${(err as Error).message}`);
      return 2;
    }
  }
  const t0 = performance.now();
  const reports: EngineReport[] = [];
  try {
    for (const engine of ENGINES) if (!isInterrupted()) reports.push(await runEngine(engine));
  } finally {
    await cleanupAll();
  }
  load.after = loadavg();
  summary(reports, load);
  log(`whole run: ${f0((performance.now() - t0) / 1000)} s`);
  return reports.length === ENGINES.length && reports.every((r) => r.failures.length === 0) ? 0 : 1;
}

runBench(main, HARD_LIMIT_MS);
