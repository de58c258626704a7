import { fork, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import SQLite from 'better-sqlite3';
import pg from 'pg';
import { NO_EXPIRY_MS } from '../../src/storage/bso.js';
import { nowTicks } from '../../src/storage/timestamps.js';
import { BENCH_SECRET, sleep, type Target } from '../common/client.js';
import { machineBusySeconds, noisy, statFields } from '../common/cpu.js';
import { HOST, foxdenRoot, foxdenVersion, freePort, heartbeatWithin, onLines } from '../common/foxden.js';
import { runInChild } from '../common/jobs.js';
import { idleRss } from '../common/memory.js';
import { engines, parseOptions, usageError, wholeNumber, type Engine } from '../common/options.js';
import { DEFAULT_PG_ADMIN_URL, createBenchDatabase, localPgUrl, pgAdmin, pgProcesses } from '../common/postgres.js';
import { atCleanup, checkInterrupted, cleanupAll, exited, isInterrupted, runBench, stopChild, track, trackedChildren } from '../common/processes.js';
import { payloadOf, prng, recordId } from '../common/records.js';
import { f0, f1, f2, log, pct, printProblems, table, verdict, type Problems } from '../common/report.js';
import type { Job, JobResult, MixResult, PostsResult, ReadResult } from './common.js';
import { summarizeProfile } from './profile.js';

// Foxden storage benchmark (bench/README.md). For each engine: start Foxden as a child
// process; measure 100-record POSTs against raw driver inserts; replay the Sync load mix
// against Foxden and then against a bare node:http server answering the same byte counts;
// read idle RSS; seed a 1,000,000-record collection through the driver, restart Foxden and
// time GET ?newer&limit=100 on it. Everything runs on 127.0.0.1, every phase has a count and
// a time bound, and all children, files and databases are removed at the end.


const USAGE = `usage: npm run bench:storage -- [options]
  --engine sqlite|postgres|both   engines to run, in that order (default both)
  --devices N                     simulated devices in the load mix (default 50)
  --seconds S                     measured seconds of the load mix, per server (default 20)
  --warmup S                      warm-up seconds before each mix measurement (default 3)
  --post-clients N                concurrent clients of the concurrent POST phase (default 8)
  --post-seconds S                time cap of each POST phase (default 8)
  --post-max N                    count cap of each POST phase, in 100-record POSTs (default 1000)
  --rows N                        records in the big collection (default 1000000)
  --reads N                       measured GETs on the big collection (default 2000)
  --think-ms MS                   pause between a device's syncs (default 0: closed loop)
  --no-deletes                    leave out the 1% collection / storage DELETEs of the mix
  --cpu-prof                      profile Foxden (node --cpu-prof) and print where it spends time
  --pg-url URL                    PostgreSQL admin URL on 127.0.0.1 (default postgres://postgres@127.0.0.1:5432/postgres)`;

// ---- options ----

const opts = parseOptions(USAGE, {
  engine: { type: 'string', default: 'both' },
  devices: { type: 'string', default: '50' },
  seconds: { type: 'string', default: '20' },
  warmup: { type: 'string', default: '3' },
  'post-clients': { type: 'string', default: '8' },
  'post-seconds': { type: 'string', default: '8' },
  'post-max': { type: 'string', default: '1000' },
  rows: { type: 'string', default: '1000000' },
  reads: { type: 'string', default: '2000' },
  'think-ms': { type: 'string', default: '0' },
  'no-deletes': { type: 'boolean', default: false },
  'cpu-prof': { type: 'boolean', default: false },
  'pg-url': { type: 'string', default: DEFAULT_PG_ADMIN_URL },
});

function intOption(name: keyof typeof opts, min: number, max: number): number {
  return wholeNumber(USAGE, name, String(opts[name]), min, max);
}

const DEVICES = intOption('devices', 1, 2000);
const SECONDS = intOption('seconds', 1, 600);
const WARMUP = intOption('warmup', 0, 120);
const POST_CLIENTS = intOption('post-clients', 1, 256);
const POST_SECONDS = intOption('post-seconds', 1, 120);
const POST_MAX = intOption('post-max', 1, 100_000);
const ROWS = intOption('rows', 1000, 10_000_000);
const READS = intOption('reads', 10, 100_000);
const THINK_MS = intOption('think-ms', 0, 60_000);
const ENGINES = engines(USAGE, String(opts.engine));
// The bench only ever talks to this machine.
const PG_ADMIN = localPgUrl(USAGE, String(opts['pg-url']));

const RECORDS_PER_POST = 100;
const PAYLOAD_BYTES = 450;
const UID_MIX = 100_000;
const UID_POSTS_SEQ = 200_000;
const UID_POSTS_CONC = 210_000;
const UID_RAW = 300_000;
const UID_BIG = 900_000_001;
const BIG_COLLECTION = 'history';
const TARGET_MIX_RATIO = 0.4;
const TARGET_MIX_P99_MS = 25;
const TARGET_POST_RATIO = 0.5;
const TARGET_READ_P99_MS = 5;
const TARGET_RSS_MB = 80;

const here = dirname(fileURLToPath(import.meta.url));
const root = foxdenRoot(here);
const CLI = join(root, 'dist', 'cli.js');
const GENERATOR = join(here, 'generator.js');
const BARE = join(here, 'bare.js');
if (!existsSync(CLI)) {
  console.error(`${CLI} is missing: run npm run build first (npm run bench:storage does)`);
  process.exit(2);
}

// The whole run has a hard upper bound, whatever happens inside.
const HARD_LIMIT_MS = ENGINES.length * (2 * (WARMUP + SECONDS) + 4 * POST_SECONDS + ROWS / 5000 + 900) * 1000;

// ---- small helpers ----

/** user + system CPU seconds a process has used, with its reaped children's if asked; 0 once it is gone. */
function cpuSeconds(pid: number, withChildren = false): number {
  const f = statFields(pid);
  if (!f) return 0;
  return (f[11]! + f[12]! + (withChildren ? f[13]! + f[14]! : 0)) / 100;
}

interface CpuShare {
  /** Wall-clock seconds measured. */
  seconds: number;
  /** Core-seconds available (cores x seconds). */
  capacity: number;
  foxden: number;
  postgres: number;
  /** The bench itself: this process, the generator, the bare server. */
  bench: number;
  /** Everything else on the machine (other jobs; PostgreSQL processes that exited meanwhile). */
  others: number;
}

/**
 * Who used the CPU during a phase: Foxden, PostgreSQL (backends of the bench database and
 * background workers), the bench's own processes, and everything else. The machine has 2 cores shared by all of
 * them, so "everything else" says how much the figures were disturbed.
 */
class CpuMeter {
  private readonly t0 = performance.now();
  private readonly busy0 = machineBusySeconds();
  private readonly self0 = cpuSeconds(process.pid, true);
  private readonly fox0: number;
  private readonly pg0: Map<number, number>;
  private readonly live0: number;

  constructor(
    private readonly foxPid: number | undefined,
    private readonly dbName: string | undefined,
  ) {
    this.fox0 = foxPid ? cpuSeconds(foxPid) : 0;
    this.pg0 = new Map(pgProcesses(dbName).map((pid) => [pid, cpuSeconds(pid)]));
    this.live0 = this.liveChildren();
  }

  /** CPU of live children other than Foxden (reaped ones count in this process's cutime). */
  private liveChildren(): number {
    return trackedChildren().filter((c) => c.pid !== this.foxPid && !exited(c)).reduce((sum, c) => sum + cpuSeconds(c.pid!), 0);
  }

  read(): CpuShare {
    const seconds = (performance.now() - this.t0) / 1000;
    const busy = machineBusySeconds() - this.busy0;
    const foxden = this.foxPid ? cpuSeconds(this.foxPid) - this.fox0 : 0;
    let postgres = 0;
    for (const pid of pgProcesses(this.dbName)) postgres += cpuSeconds(pid) - (this.pg0.get(pid) ?? 0);
    const bench = cpuSeconds(process.pid, true) - this.self0 + this.liveChildren() - this.live0;
    return { seconds, capacity: seconds * availableParallelism(), foxden, postgres, bench, others: Math.max(0, busy - foxden - postgres - bench) };
  }
}

function cpuLine(c: CpuShare, serverLabel = 'Foxden'): string {
  const pgPart = c.postgres > 0.05 ? `, PostgreSQL ${f1(c.postgres)}` : '';
  return `CPU core-seconds of ${f1(c.capacity)}: ${serverLabel} ${f1(c.foxden)}${pgPart}, bench processes ${f1(c.bench)}, other processes ${f1(c.others)}`;
}

// ---- a running server (Foxden or bare) ----

class Server {
  readonly logLines: string[] = [];
  warnings = 0;
  errors = 0;

  constructor(
    readonly name: string,
    readonly child: ChildProcess,
    readonly port: number,
  ) {
    onLines(child, (line) => this.line(line));
  }

  private line(line: string): void {
    if (line.trim() === '') return;
    let level = 50;
    try {
      level = Number((JSON.parse(line) as { level?: number }).level ?? 50);
    } catch {
      // not a pino line (a crash trace): count it as an error
    }
    if (level >= 50) this.errors++;
    else if (level >= 40) this.warnings++;
    if (this.logLines.length < 40) this.logLines.push(line.length > 600 ? `${line.slice(0, 600)}…` : line);
  }

  get pid(): number {
    return this.child.pid!;
  }

  get target(): Target {
    return { host: HOST, port: this.port, bare: this.name === 'bare' };
  }

  alive(): boolean {
    return !exited(this.child);
  }

  describeExit(): string {
    return `${this.name} exited (code ${this.child.exitCode}, signal ${this.child.signalCode})`;
  }

  async ready(timeoutMs = 30_000): Promise<void> {
    if (await heartbeatWithin(this, timeoutMs)) return;
    throw new Error(`${this.name} did not answer /__heartbeat__ within ${timeoutMs} ms`);
  }

  stop(): Promise<void> {
    return stopChild(this.child);
  }
}

interface EngineDb {
  engine: Engine;
  dataDir: string;
  /** PostgreSQL database URL; undefined for SQLite. */
  url?: string;
}

function foxdenEnv(db: EngineDb, port: number): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('FOXDEN_') && !k.startsWith('NODE_OPTIONS')) env[k] = v;
  return {
    ...env,
    FOXDEN_HOST: HOST,
    FOXDEN_PORT: String(port),
    FOXDEN_PUBLIC_URL: `http://${HOST}:${port}`,
    FOXDEN_DATA_DIR: db.dataDir,
    ...(db.url ? { FOXDEN_DATABASE_URL: db.url } : {}),
    FOXDEN_SYNC_MASTER_SECRET: BENCH_SECRET,
    FOXDEN_LOG_LEVEL: 'warn',
  };
}

async function migrate(db: EngineDb): Promise<void> {
  const child = track(spawn(process.execPath, [CLI, 'migrate'], { cwd: root, env: foxdenEnv(db, 0), stdio: ['ignore', 'pipe', 'pipe'] }));
  let out = '';
  child.stdout?.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr?.on('data', (c: Buffer) => (out += c.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
  const code = await new Promise<number | null>((r) => child.once('exit', (c) => r(c)));
  clearTimeout(timer);
  if (code !== 0) throw new Error(`foxden migrate failed (exit ${code}): ${out}`);
}

let profileDir: string | undefined;

async function startFoxden(db: EngineDb, label: string): Promise<Server> {
  const port = await freePort();
  const args = [CLI, 'serve'];
  if (opts['cpu-prof']) {
    profileDir ??= join(root, 'bench', 'dist', 'profiles', new Date().toISOString().replace(/[:.]/g, '-'));
    mkdirSync(profileDir, { recursive: true });
    args.unshift('--cpu-prof', `--cpu-prof-dir=${profileDir}`, `--cpu-prof-name=${db.engine}-${label}.cpuprofile`);
  }
  const child = track(spawn(process.execPath, args, { cwd: root, env: foxdenEnv(db, port), stdio: ['ignore', 'pipe', 'pipe'] }));
  const server = new Server('foxden', child, port);
  await server.ready();
  return server;
}

async function startBare(): Promise<Server> {
  const port = await freePort();
  const child = track(fork(BARE, [String(port)], { cwd: root, stdio: ['ignore', 'pipe', 'pipe', 'ipc'], execArgv: [] }));
  const server = new Server('bare', child, port);
  await server.ready();
  return server;
}

/** Run one job in a fresh generator child; it is killed if it overruns `timeoutMs`. */
function generate<R extends JobResult>(job: Job, timeoutMs: number): Promise<R> {
  return runInChild<R>({ script: GENERATOR, cwd: root, name: 'load generator', timeoutMs, bound: `${Math.round(timeoutMs / 1000)} s` }, job);
}

// ---- databases ----

async function createEngineDb(engine: Engine): Promise<EngineDb> {
  const dataDir = mkdtempSync(join(tmpdir(), `foxden-bench-${engine}-`));
  atCleanup(() => rmSync(dataDir, { recursive: true, force: true }), dataDir);
  if (engine === 'sqlite') return { engine, dataDir };
  const { url } = await createBenchDatabase(PG_ADMIN);
  return { engine, dataDir, url };
}

function sqliteFile(db: EngineDb): string {
  return join(db.dataDir, 'foxden.sqlite');
}

function openSqlite(db: EngineDb): SQLite.Database {
  const s = new SQLite(sqliteFile(db));
  // Foxden's own settings (src/db/index.ts).
  s.pragma('journal_mode = WAL');
  s.pragma('busy_timeout = 10000');
  s.pragma('synchronous = NORMAL');
  return s;
}

async function withPg<T>(db: EngineDb, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: db.url });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end().catch(() => {});
  }
}

async function collectionId(db: EngineDb, name: string): Promise<number> {
  if (db.engine === 'sqlite') {
    const s = openSqlite(db);
    try {
      const row = s.prepare('select collection_id from collections where name = ?').get(name) as { collection_id: number } | undefined;
      if (!row) throw new Error(`no collection ${name}`);
      return row.collection_id;
    } finally {
      s.close();
    }
  }
  return withPg(db, async (c) => {
    const r = await c.query<{ collection_id: number }>('select collection_id from collections where name = $1', [name]);
    if (!r.rows[0]) throw new Error(`no collection ${name}`);
    return r.rows[0].collection_id;
  });
}

// ---- raw insertion through the driver ----

interface RawResult {
  writers: number;
  records: number;
  seconds: number;
  recordsPerSecond: number;
}

const RAW_COLUMNS = 'user_id, collection_id, bso_id, sortindex, payload, payload_size, modified_ms, expiry_ms';

/** A table with the shape of Foxden's bsos (columns, key, indexes), created from bsos itself. */
async function createRawTable(db: EngineDb): Promise<void> {
  if (db.engine === 'postgres') {
    await withPg(db, (c) => c.query('create table if not exists bench_raw_bsos (like bsos including all)'));
    return;
  }
  const s = openSqlite(db);
  try {
    const ddl = s.prepare("select sql from sqlite_master where tbl_name = 'bsos' and sql is not null order by type desc").all() as { sql: string }[];
    if (ddl.length < 2) throw new Error('bsos table or its indexes not found');
    s.exec('drop table if exists bench_raw_bsos');
    for (const { sql } of ddl) {
      const renamed = sql.replace(/"bsos/g, '"bench_raw_bsos').replace(/\bbsos\b/g, 'bench_raw_bsos');
      s.exec(renamed);
    }
  } finally {
    s.close();
  }
}

/** `batches` transactions of 100 rows each (one per POST): prepared statements on SQLite. */
function rawSqlite(db: EngineDb, cid: number, batches: number, maxSeconds: number, uid: number): RawResult {
  const s = openSqlite(db);
  try {
    const insert = s.prepare(`insert into bench_raw_bsos (${RAW_COLUMNS}) values (?, ?, ?, ?, ?, ?, ?, ?)`);
    const tx = s.transaction((uid: number, t: number, rng: () => number) => {
      for (let i = 0; i < RECORDS_PER_POST; i++) insert.run(uid, cid, recordId(rng), null, payloadOf(rng, PAYLOAD_BYTES), PAYLOAD_BYTES, t, t + NO_EXPIRY_MS);
    });
    const rng = prng(uid);
    const t0 = performance.now();
    const deadline = t0 + maxSeconds * 1000;
    let done = 0;
    while (done < batches && performance.now() < deadline) {
      tx.immediate(uid, nowTicks(), rng); // BEGIN IMMEDIATE, like Foxden's writes
      done++;
    }
    const seconds = (performance.now() - t0) / 1000;
    return { writers: 1, records: done * RECORDS_PER_POST, seconds, recordsPerSecond: (done * RECORDS_PER_POST) / seconds };
  } finally {
    s.close();
  }
}

/** `batches` 100-row multi-row INSERTs (one per POST, each its own transaction) over `writers` connections. */
async function rawPostgres(db: EngineDb, cid: number, batches: number, writers: number, maxSeconds: number, uidBase: number): Promise<RawResult> {
  const placeholders = Array.from({ length: RECORDS_PER_POST }, (_, r) => `(${Array.from({ length: 8 }, (_, c) => `$${r * 8 + c + 1}`).join(', ')})`).join(', ');
  const text = `insert into bench_raw_bsos (${RAW_COLUMNS}) values ${placeholders}`;
  const pool = new pg.Pool({ connectionString: db.url, max: writers });
  pool.on('error', () => {});
  try {
    let started = 0;
    let done = 0;
    const t0 = performance.now();
    const deadline = t0 + maxSeconds * 1000;
    await Promise.all(
      Array.from({ length: writers }, async (_, w) => {
        const client = await pool.connect();
        try {
          const rng = prng(uidBase + w);
          while (started < batches && performance.now() < deadline) {
            started++;
            const t = nowTicks();
            const values: (string | number | null)[] = [];
            for (let i = 0; i < RECORDS_PER_POST; i++) values.push(uidBase + w, cid, recordId(rng), null, payloadOf(rng, PAYLOAD_BYTES), PAYLOAD_BYTES, t, t + NO_EXPIRY_MS);
            await client.query({ name: 'bench_raw_insert_100', text, values });
            done++;
          }
        } finally {
          client.release();
        }
      }),
    );
    const seconds = (performance.now() - t0) / 1000;
    return { writers, records: done * RECORDS_PER_POST, seconds, recordsPerSecond: (done * RECORDS_PER_POST) / seconds };
  } finally {
    await pool.end();
  }
}

// ---- the big collection ----

interface Seeded {
  rows: number;
  seconds: number;
  firstModified: number;
  lastModified: number;
}

const SEED_CHUNK = 100_000;
/** 50 records share each timestamp (one upload), one upload a minute. */
const SEED_PER_TICK = 50;
const SEED_TICK_MS = 60_000;

/**
 * ROWS records for UID_BIG in BIG_COLLECTION, written straight into Foxden's tables (bsos,
 * user_collections, user_storage) while Foxden is stopped. Ids are 12 hex digits (a bijective
 * scramble of the row number), payloads 450 random-looking characters.
 */
async function seedBig(db: EngineDb): Promise<Seeded> {
  const cid = await collectionId(db, BIG_COLLECTION);
  const ticks = Math.ceil(ROWS / SEED_PER_TICK);
  const first = nowTicks() - 86_400_000 - ticks * SEED_TICK_MS;
  const last = first + Math.floor((ROWS - 1) / SEED_PER_TICK) * SEED_TICK_MS;
  const t0 = performance.now();
  let lastReport = t0;
  const progress = (done: number) => {
    if (performance.now() - lastReport > 5000) {
      lastReport = performance.now();
      log(`    seeded ${f0(done)} / ${f0(ROWS)} rows`);
    }
  };
  if (db.engine === 'sqlite') {
    const s = openSqlite(db);
    try {
      s.pragma('synchronous = OFF');
      const insert = s.prepare(`
        with recursive g(i) as (select ? union all select i + 1 from g where i < ?)
        insert into bsos (${RAW_COLUMNS})
        select ?, ?, printf('%012x', (i * 2654435761) % 281474976710656), (i * 7919) % 1000000,
               hex(randomblob(225)), 450, ? + (i / ${SEED_PER_TICK}) * ${SEED_TICK_MS}, ? + (i / ${SEED_PER_TICK}) * ${SEED_TICK_MS} + ${NO_EXPIRY_MS}
        from g`);
      for (let from = 0; from < ROWS; from += SEED_CHUNK) {
        const to = Math.min(ROWS, from + SEED_CHUNK) - 1;
        s.transaction(() => insert.run(from, to, UID_BIG, cid, first, first))();
        progress(to + 1);
      }
      s.prepare('insert into user_collections (user_id, collection_id, modified_ms, total_bytes) values (?, ?, ?, ?)').run(UID_BIG, cid, last, ROWS * 450);
      s.prepare('insert into user_storage (user_id, storage_modified_ms) values (?, ?)').run(UID_BIG, last);
      s.pragma('wal_checkpoint(TRUNCATE)');
    } finally {
      s.close();
    }
  } else {
    await withPg(db, async (c) => {
      for (let from = 0; from < ROWS; from += SEED_CHUNK) {
        const to = Math.min(ROWS, from + SEED_CHUNK) - 1;
        await c.query(
          `insert into bsos (${RAW_COLUMNS})
           select $1, $2, lpad(to_hex((g * 2654435761) % 281474976710656), 12, '0'), (g * 7919) % 1000000,
                  substr(repeat(md5(g::text), 15), 1, 450), 450, $3 + (g / ${SEED_PER_TICK}) * ${SEED_TICK_MS}, $3 + (g / ${SEED_PER_TICK}) * ${SEED_TICK_MS} + ${NO_EXPIRY_MS}
           from generate_series($4::bigint, $5::bigint) g`,
          [UID_BIG, cid, first, from, to],
        );
        progress(to + 1);
      }
      await c.query('insert into user_collections (user_id, collection_id, modified_ms, total_bytes) values ($1, $2, $3, $4)', [UID_BIG, cid, last, ROWS * 450]);
      await c.query('insert into user_storage (user_id, storage_modified_ms) values ($1, $2)', [UID_BIG, last]);
      // What autovacuum would have done shortly after such a load in production.
      await c.query('vacuum analyze bsos');
    });
  }
  return { rows: ROWS, seconds: (performance.now() - t0) / 1000, firstModified: first, lastModified: last };
}

// ---- one engine ----

interface EngineReport {
  engine: Engine;
  rssStart?: number;
  rssAfter?: number;
  postsSeq?: PostsResult;
  postsConc?: PostsResult;
  rawSeq?: RawResult;
  rawConc?: RawResult;
  mixFoxden?: MixResult;
  mixBare?: MixResult;
  seeded?: Seeded;
  readNewest?: ReadResult;
  readOldest?: ReadResult;
  readIndex?: ReadResult;
  /** CPU use per measured phase. */
  cpu: Record<string, CpuShare>;
  failures: string[];
  foxdenLog: { warnings: number; errors: number; lines: string[] };
  profiles: string[];
}

function noteFoxdenLog(report: EngineReport, fox: Server): void {
  report.foxdenLog.warnings += fox.warnings;
  report.foxdenLog.errors += fox.errors;
  for (const l of fox.logLines) if (report.foxdenLog.lines.length < 20) report.foxdenLog.lines.push(l);
}

async function stopFoxden(report: EngineReport, fox: Server, label: string): Promise<void> {
  const wasAlive = fox.alive();
  await fox.stop();
  noteFoxdenLog(report, fox);
  if (!wasAlive) report.failures.push(`Foxden (${label}) died during the run: ${fox.describeExit()}`);
  if (profileDir) {
    const file = join(profileDir, `${report.engine}-${label}.cpuprofile`);
    for (let i = 0; i < 50 && !existsSync(file); i++) await sleep(100);
    if (existsSync(file) && statSync(file).size > 0) report.profiles.push(file);
  }
}

function ensureAlive(fox: Server): void {
  if (!fox.alive()) throw new Error(`${fox.describeExit()}; its last log lines:\n${fox.logLines.slice(-10).join('\n')}`);
}

async function runEngine(engine: Engine): Promise<EngineReport> {
  const report: EngineReport = { engine, cpu: {}, failures: [], foxdenLog: { warnings: 0, errors: 0, lines: [] }, profiles: [] };
  log(`\n=== ${engine} ===`);
  const db = await createEngineDb(engine);
  const dbName = db.url ? new URL(db.url).pathname.slice(1) : undefined;
  await migrate(db);
  const cid = await collectionId(db, BIG_COLLECTION);
  const measured = async <T>(phase: string, foxPid: number | undefined, fn: () => Promise<T>): Promise<T> => {
    const meter = new CpuMeter(foxPid, dbName);
    const result = await fn();
    report.cpu[phase] = meter.read();
    return result;
  };
  const cpuNote = (phase: string, indent = '    ', serverLabel = 'Foxden') => {
    const c = report.cpu[phase];
    if (!c) return;
    log(`${indent}${cpuLine(c, serverLabel)}`);
    if (noisy(c)) log(`${indent}WARNING: other processes took ${pct(c.others / c.capacity)} of the machine during this measurement; the figure is disturbed`);
  };

  // Phase A: fresh database. Start-up RSS, POSTs vs raw inserts, the load mix, RSS after it.
  let fox: Server | undefined;
  try {
    fox = await startFoxden(db, 'load');
    const foxPid = fox.pid;
    const rss0 = await idleRss(foxPid);
    report.rssStart = rss0.settled;
    log(`  RSS after start-up: ${f1(rss0.first)} MB at once, ${f1(rss0.settled)} MB idle (settled after ${f1(rss0.waited)} s)`);

    log(`  100-record POSTs (${PAYLOAD_BYTES}-byte payloads), 1 client:`);
    const postJob = { mode: 'posts' as const, target: fox.target, secret: BENCH_SECRET, maxPosts: POST_MAX, maxSeconds: POST_SECONDS, recordsPerPost: RECORDS_PER_POST, payloadBytes: PAYLOAD_BYTES, collection: BIG_COLLECTION };
    report.postsSeq = await measured('postsSeq', foxPid, () => generate<PostsResult>({ ...postJob, clients: 1, uidBase: UID_POSTS_SEQ }, (POST_SECONDS + 60) * 1000));
    log(`    ${f0(report.postsSeq.recordsPerSecond)} records/s (${report.postsSeq.posts} POSTs in ${f2(report.postsSeq.seconds)} s), p50 ${f2(report.postsSeq.latency.p50)} ms, p99 ${f2(report.postsSeq.latency.p99)} ms`);
    cpuNote('postsSeq');
    printProblems(report.postsSeq.problems);
    ensureAlive(fox);

    log(`  100-record POSTs, ${POST_CLIENTS} concurrent clients:`);
    report.postsConc = await measured('postsConc', foxPid, () => generate<PostsResult>({ ...postJob, clients: POST_CLIENTS, uidBase: UID_POSTS_CONC }, (POST_SECONDS + 60) * 1000));
    log(`    ${f0(report.postsConc.recordsPerSecond)} records/s (${report.postsConc.posts} POSTs in ${f2(report.postsConc.seconds)} s), p50 ${f2(report.postsConc.latency.p50)} ms, p99 ${f2(report.postsConc.latency.p99)} ms`);
    cpuNote('postsConc');
    printProblems(report.postsConc.problems);
    ensureAlive(fox);

    await createRawTable(db);
    const seqBatches = Math.max(1, report.postsSeq.posts);
    const concBatches = Math.max(1, report.postsConc.posts);
    log(`  raw driver inserts of the same rows into a table shaped like bsos (100 rows per transaction):`);
    if (engine === 'sqlite') {
      report.rawSeq = await measured('rawSeq', undefined, async () => rawSqlite(db, cid, seqBatches, POST_SECONDS, UID_RAW));
      // SQLite has one writer at a time: the best the driver does is the single-writer figure.
      report.rawConc = await measured('rawConc', undefined, async () => rawSqlite(db, cid, concBatches, POST_SECONDS, UID_RAW + 1));
    } else {
      // Not metered: the backends of these connections are gone (with their CPU counts) by the end.
      report.rawSeq = await rawPostgres(db, cid, seqBatches, 1, POST_SECONDS, UID_RAW);
      report.rawConc = await rawPostgres(db, cid, concBatches, POST_CLIENTS, POST_SECONDS, UID_RAW + 1);
    }
    if (engine === 'sqlite') log(`    1 writer: ${f0(report.rawSeq.recordsPerSecond)} records/s (rows of the 1-client phase), ${f0(report.rawConc.recordsPerSecond)} records/s (rows of the ${POST_CLIENTS}-client phase)`);
    else log(`    1 connection: ${f0(report.rawSeq.recordsPerSecond)} records/s; ${report.rawConc.writers} connections: ${f0(report.rawConc.recordsPerSecond)} records/s`);
    cpuNote('rawConc', '    ', 'Foxden (idle)');

    log(`  load mix against Foxden: ${DEVICES} devices, ${WARMUP} s warm-up + ${SECONDS} s measured…`);
    const mixJob = { mode: 'mix' as const, secret: BENCH_SECRET, devices: DEVICES, seconds: SECONDS, warmupSeconds: WARMUP, uidBase: UID_MIX, deletes: !opts['no-deletes'], thinkMs: THINK_MS, seed: 1 };
    report.mixFoxden = await measured('mixFoxden', foxPid, () => generate<MixResult>({ ...mixJob, target: fox!.target }, (WARMUP + SECONDS + 90) * 1000));
    ensureAlive(fox);
    printMix('foxden', report.mixFoxden);
    cpuNote('mixFoxden', '      ');

    const rss1 = await idleRss(foxPid);
    report.rssAfter = rss1.settled;
    log(`  RSS after the load: ${f1(rss1.first)} MB at once, ${f1(rss1.settled)} MB idle (settled after ${f1(rss1.waited)} s)`);
  } catch (err) {
    report.failures.push(`phase A (POSTs / load mix): ${(err as Error).message}`);
    log(`  FAILED: ${(err as Error).message}`);
  } finally {
    if (fox) await stopFoxden(report, fox, 'load');
  }

  // The bare server, with the body sizes Foxden gave.
  if (report.mixFoxden && !isInterrupted()) {
    let bare: Server | undefined;
    try {
      bare = await startBare();
      const barePid = bare.pid;
      log(`  load mix against the bare node:http server (same requests, same body sizes)…`);
      report.mixBare = await measured('mixBare', barePid, () =>
        generate<MixResult>(
          { mode: 'mix', target: bare!.target, secret: BENCH_SECRET, devices: DEVICES, seconds: SECONDS, warmupSeconds: WARMUP, uidBase: UID_MIX, deletes: !opts['no-deletes'], thinkMs: THINK_MS, seed: 1, sizes: report.mixFoxden!.sizes },
          (WARMUP + SECONDS + 90) * 1000,
        ),
      );
      printMix('bare', report.mixBare);
      cpuNote('mixBare', '      ', 'bare server');
    } catch (err) {
      report.failures.push(`bare server run: ${(err as Error).message}`);
      log(`  FAILED: ${(err as Error).message}`);
    } finally {
      if (bare) await bare.stop();
    }
  }

  // Phase B: the big collection, seeded through the driver while Foxden is stopped.
  try {
    checkInterrupted();
    log(`  seeding ${f0(ROWS)} records into ${BIG_COLLECTION} of uid ${UID_BIG} through the driver…`);
    report.seeded = await seedBig(db);
    log(`    done in ${f1(report.seeded.seconds)} s`);
    fox = await startFoxden(db, 'big');
    const foxPid = fox.pid;
    try {
      const base = { mode: 'read' as const, target: fox.target, secret: BENCH_SECRET, uid: UID_BIG, collection: BIG_COLLECTION, limit: 100 };
      // newer below the third-newest upload, so every answer holds a full page of 100.
      const range = { newerFrom: report.seeded.firstModified - 10, newerTo: report.seeded.lastModified - 3 * SEED_TICK_MS };
      report.readNewest = await measured('readNewest', foxPid, () => generate<ReadResult>({ ...base, ...range, warmupRequests: 100, requests: READS, maxSeconds: 120 }, 200_000));
      printRead('GET ?full=1&newer=<ts>&limit=100 (default sort: newest first)', report.readNewest);
      cpuNote('readNewest');
      ensureAlive(fox);
      report.readOldest = await measured('readOldest', foxPid, () => generate<ReadResult>({ ...base, ...range, sort: 'oldest', warmupRequests: 100, requests: READS, maxSeconds: 120 }, 200_000));
      printRead('GET ?full=1&newer=<ts>&limit=100&sort=oldest (the 100 records after ts: pages through the range)', report.readOldest);
      cpuNote('readOldest');
      ensureAlive(fox);
      report.readIndex = await measured('readIndex', foxPid, () => generate<ReadResult>({ ...base, ...range, sort: 'index', warmupRequests: 1, requests: 20, maxSeconds: 20 }, 120_000));
      printRead('GET ?full=1&newer=<ts>&limit=100&sort=index (no index orders by sortindex; at most 20 requests / 20 s)', report.readIndex);
      cpuNote('readIndex');
      if (engine === 'postgres') log('    (PostgreSQL sorts this with parallel workers that exit before they can be counted: they show as other processes)');
      ensureAlive(fox);
    } finally {
      await stopFoxden(report, fox, 'big');
    }
  } catch (err) {
    report.failures.push(`phase B (1M-record reads): ${(err as Error).message}`);
    log(`  FAILED: ${(err as Error).message}`);
  }

  if (report.foxdenLog.warnings + report.foxdenLog.errors > 0) {
    log(`  Foxden logged ${report.foxdenLog.warnings} warning(s) and ${report.foxdenLog.errors} error(s); first lines:`);
    for (const l of report.foxdenLog.lines.slice(0, 10)) log(`    ${l}`);
  }
  return report;
}

function printMix(name: string, r: MixResult): void {
  log(`    ${name}: ${f0(r.rps)} req/s (${f0(r.requests)} requests, ${f0(r.iterations)} syncs), p50 ${f2(r.latency.p50)} ms, p99 ${f2(r.latency.p99)} ms, max ${f1(r.latency.max)} ms; load generator CPU ${f1(r.generatorCpu)} s`);
  if (name === 'foxden') {
    log('      kind                 count      p50 ms    p99 ms   mean body bytes');
    for (const [kind, k] of Object.entries(r.kinds)) {
      log(`      ${kind.padEnd(18)} ${String(k.count).padStart(7)}  ${f2(k.p50).padStart(9)} ${f2(k.p99).padStart(9)}   ${f0(k.meanBytes).padStart(10)}`);
    }
  }
  printProblems(r.problems, '      ');
}

function printRead(title: string, r: ReadResult): void {
  log(`  ${title}:`);
  log(`    ${r.requests} requests: p50 ${f2(r.latency.p50)} ms, p99 ${f2(r.latency.p99)} ms, max ${f1(r.latency.max)} ms; ${f1(r.meanRecords)} records / ${f0(r.meanBytes)} bytes per answer`);
  printProblems(r.problems);
}

// ---- summary ----

function summary(reports: EngineReport[]): void {
  const rows: string[][] = [['engine', 'figure', 'foxden', 'baseline', 'ratio', 'target', 'result']];
  for (const r of reports) {
    const e = r.engine;
    // The load-mix target is stated for SQLite at 50 devices; elsewhere it is shown for reference.
    const mixBinding = e === 'sqlite' && DEVICES === 50;
    if (r.mixFoxden && r.mixBare) {
      const ratio = r.mixFoxden.rps / r.mixBare.rps;
      rows.push([e, `load mix, ${DEVICES} devices: req/s`, f0(r.mixFoxden.rps), `${f0(r.mixBare.rps)} bare`, pct(ratio), `>= ${pct(TARGET_MIX_RATIO)} of bare`, verdict(ratio >= TARGET_MIX_RATIO, mixBinding)]);
      rows.push([e, 'load mix: p50 / p99 ms', `${f2(r.mixFoxden.latency.p50)} / ${f2(r.mixFoxden.latency.p99)}`, `${f2(r.mixBare.latency.p50)} / ${f2(r.mixBare.latency.p99)} bare`, '', `p99 < ${TARGET_MIX_P99_MS} ms`, verdict(r.mixFoxden.latency.p99 < TARGET_MIX_P99_MS, mixBinding)]);
    } else rows.push([e, 'load mix', 'not measured', '', '', '', 'FAIL']);
    for (const [label, posts, raw] of [
      ['POST 100 rec, 1 client: rec/s', r.postsSeq, r.rawSeq],
      [`POST 100 rec, ${POST_CLIENTS} clients: rec/s`, r.postsConc, r.rawConc],
    ] as const) {
      if (posts && raw) {
        const ratio = posts.recordsPerSecond / raw.recordsPerSecond;
        rows.push([e, label, f0(posts.recordsPerSecond), `${f0(raw.recordsPerSecond)} raw (${raw.writers} writer${raw.writers > 1 ? 's' : ''})`, pct(ratio), `>= ${pct(TARGET_POST_RATIO)} of raw`, verdict(ratio >= TARGET_POST_RATIO, true)]);
      } else rows.push([e, label, 'not measured', '', '', '', 'FAIL']);
    }
    if (r.readNewest) {
      rows.push([e, `GET newer&limit=100, ${f0(ROWS)} rows: p50 / p99 ms`, `${f2(r.readNewest.latency.p50)} / ${f2(r.readNewest.latency.p99)}`, '', '', `p99 < ${TARGET_READ_P99_MS} ms`, verdict(r.readNewest.latency.p99 < TARGET_READ_P99_MS && r.readNewest.problems.unexpected === 0, true)]);
    } else rows.push([e, 'GET newer&limit=100 on the big collection', 'not measured', '', '', '', 'FAIL']);
    if (r.readOldest) rows.push([e, '  same, sort=oldest: p50 / p99 ms', `${f2(r.readOldest.latency.p50)} / ${f2(r.readOldest.latency.p99)}`, '', '', 'info', '']);
    if (r.readIndex) rows.push([e, '  same, sort=index: p50 / p99 ms', `${f2(r.readIndex.latency.p50)} / ${f2(r.readIndex.latency.p99)}`, '', '', 'info', '']);
    for (const [label, v] of [
      ['idle RSS after start-up: MB', r.rssStart],
      ['idle RSS after the load: MB', r.rssAfter],
    ] as const) {
      rows.push([e, label, v === undefined ? 'not measured' : f1(v), '', '', `< ${TARGET_RSS_MB} MB`, verdict(v !== undefined && v < TARGET_RSS_MB, true)]);
    }
    const problems = [r.postsSeq?.problems, r.postsConc?.problems, r.mixFoxden?.problems, r.readNewest?.problems, r.readOldest?.problems, r.readIndex?.problems].filter((p): p is Problems => p !== undefined);
    const unexpected = problems.reduce((s, p) => s + p.unexpected, 0);
    const fivexx = problems.reduce((s, p) => s + p.serverErrors, 0);
    const transport = problems.reduce((s, p) => s + p.transport, 0);
    // sort=index is information only, and PostgreSQL's short-lived parallel workers sorting for it count as "other".
    const shares = Object.entries(r.cpu).filter(([phase]) => phase !== 'readIndex').map(([, c]) => c);
    if (shares.length > 0) {
      const worst = Math.max(...shares.map((c) => c.others / c.capacity));
      rows.push([e, 'CPU taken by other processes (worst phase)', pct(worst), '', '', '< 10%', worst < 0.1 ? 'quiet' : 'NOISY']);
    }
    rows.push([e, 'Foxden errors: bad status / 5xx / no answer', `${unexpected} / ${fivexx} / ${transport}`, '', '', '0', verdict(unexpected + transport === 0 && r.failures.length === 0, true)]);
  }
  log(`\n=== summary: ${DEVICES} devices, ${SECONDS} s measured per server, ${f0(ROWS)}-record collection ===`);
  for (const line of table(rows)) log(line);
  if (DEVICES !== 50) log('(load-mix targets are defined at 50 devices on SQLite; shown in parentheses for reference)');
  else if (reports.some((r) => r.engine === 'postgres')) log('(load-mix targets are defined for SQLite; PostgreSQL verdicts are in parentheses, for reference)');
  for (const r of reports) for (const f of r.failures) log(`${r.engine}: ${f}`);
}

// ---- main ----

async function main(): Promise<number> {
  log(`Foxden storage bench: engines ${ENGINES.join(', ')}; ${DEVICES} devices; ${SECONDS} s per mix run; node ${process.version}; Foxden ${foxdenVersion(root)}`);
  if (ENGINES.includes('postgres')) {
    try {
      await pgAdmin(PG_ADMIN, (c) => c.query('select 1'));
    } catch (err) {
      console.error(`PostgreSQL is not reachable at ${PG_ADMIN.toString()}: ${(err as Error).message}`);
      return 2;
    }
  }
  const reports: EngineReport[] = [];
  try {
    for (const engine of ENGINES) if (!isInterrupted()) reports.push(await runEngine(engine));
  } finally {
    await cleanupAll();
  }
  summary(reports);
  for (const file of reports.flatMap((r) => r.profiles)) {
    log('');
    for (const line of summarizeProfile(file)) log(line);
  }
  if (profileDir) log(`\nCPU profiles kept in ${profileDir} (open them in Chrome DevTools > Performance)`);
  return reports.some((r) => r.failures.length > 0) ? 1 : 0;
}

runBench(main, HARD_LIMIT_MS);
