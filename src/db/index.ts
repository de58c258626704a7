import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Kysely as KyselyType } from 'kysely';
import { Kysely, Migrator, PostgresDialect, SqliteDialect, sql } from './kysely.js';
import { startCheckpointer, type Checkpointer } from './checkpointer.js';
import { migrationProvider } from './migrations.js';
import type { Schema } from './schema.js';

export type Engine = 'sqlite' | 'postgres';
export type Db = KyselyType<Schema>;

export interface Database {
  db: Db;
  engine: Engine;
  /** Human-readable location (file path or URL without password), for logs. */
  location: string;
  /** SQLite only: the background WAL checkpointer. */
  checkpointer?: Checkpointer;
  close(): Promise<void>;
}

export interface DatabaseOptions {
  /** postgres:// URL; SQLite when undefined. */
  databaseUrl?: string;
  /** Directory holding foxden.sqlite when SQLite is used. */
  dataDir: string;
  /** Pool size for PostgreSQL. */
  poolSize?: number;
  /** Told about failures of background work (SQLite checkpoints). */
  onBackgroundError?: (message: string) => void;
}


export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return 'postgres://(unparsable)';
  }
}

type SqliteHandle = import('better-sqlite3').Database;

/**
 * Kysely prepares every query anew; preparing is a large share of a small query's cost in
 * SQLite, so keep the last few hundred prepared statements by SQL text. Statements are run
 * synchronously to completion, so one is never used by two queries at once.
 */
function withStatementCache(sqlite: SqliteHandle, size = 200) {
  const cache = new Map<string, ReturnType<SqliteHandle['prepare']>>();
  return {
    close: () => sqlite.close(),
    prepare(text: string) {
      let stmt = cache.get(text);
      if (stmt) {
        cache.delete(text);
      } else {
        stmt = sqlite.prepare(text);
        if (cache.size >= size) cache.delete(cache.keys().next().value!);
      }
      cache.set(text, stmt);
      return stmt;
    },
  };
}

/** Open the database. Only the driver in use is loaded, which keeps a SQLite server small. */
export async function openDatabase(options: DatabaseOptions): Promise<Database> {
  if (options.databaseUrl) {
    const { default: pg } = await import('pg');
    // BIGINT and NUMERIC come back from pg as strings; every value we store fits a double exactly.
    const types = {
      getTypeParser(oid: number, format?: any) {
        if (oid === 20 || oid === 1700) return (v: string) => Number(v);
        return pg.types.getTypeParser(oid, format);
      },
    };
    const pool = new pg.Pool({ connectionString: options.databaseUrl, max: options.poolSize ?? 10, types: types as any });
    // An idle client losing its connection must not crash the process.
    pool.on('error', () => {});
    const db = new Kysely<Schema>({ dialect: new PostgresDialect({ pool }) });
    return { db, engine: 'postgres', location: redactUrl(options.databaseUrl), close: () => db.destroy() };
  }
  mkdirSync(options.dataDir, { recursive: true });
  const file = join(options.dataDir, 'foxden.sqlite');
  const { default: SQLite } = await import('better-sqlite3');
  const sqlite = new SQLite(file);
  // The busy timeout first: switching to WAL needs a lock another process may hold.
  sqlite.pragma('busy_timeout = 10000');
  sqlite.pragma('journal_mode = WAL');
  sqlite.pragma('synchronous = NORMAL');
  sqlite.pragma('foreign_keys = ON');
  // Checkpoints run in a worker (checkpointer.ts); this connection only steps in past ~80 MB of WAL.
  sqlite.pragma('wal_autocheckpoint = 20000');
  sqlite.pragma('journal_size_limit = 67108864');
  const checkpointer = startCheckpointer(file, undefined, options.onBackgroundError);
  const db = new Kysely<Schema>({ dialect: new SqliteDialect({ database: withStatementCache(sqlite) }) });
  return {
    db,
    engine: 'sqlite',
    location: file,
    checkpointer,
    close: async () => {
      await checkpointer.stop();
      await db.destroy();
    },
  };
}

/** Advisory lock (two-key form, apart from the one-key storage locks) held while migrating. */
const MIGRATION_LOCK: [number, number] = [0x666f78, 1];

/**
 * Apply every pending migration; safe to call from several processes at once. Kysely's own
 * lock is not enough: it creates its bookkeeping tables before locking, and two PostgreSQL
 * sessions racing on CREATE TABLE IF NOT EXISTS can fail, while on SQLite it assumes a single
 * connection. So PostgreSQL runs the whole migration under a session advisory lock, and SQLite
 * inside one BEGIN IMMEDIATE transaction; a second process waits and finds nothing left to do.
 */
export async function migrate(database: Database): Promise<string[]> {
  const provider = migrationProvider(database.engine);
  const run = async (db: Db, disableTransactions: boolean) => {
    const { error, results } = await new Migrator({ db, provider, disableTransactions }).migrateToLatest();
    if (error) throw error instanceof Error ? error : new Error(String(error));
    return (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
  };
  if (database.engine === 'postgres') {
    return database.db.connection().execute(async (conn) => {
      await sql`select pg_advisory_lock(${MIGRATION_LOCK[0]}, ${MIGRATION_LOCK[1]})`.execute(conn);
      try {
        return await run(conn, false);
      } finally {
        await sql`select pg_advisory_unlock(${MIGRATION_LOCK[0]}, ${MIGRATION_LOCK[1]})`.execute(conn);
      }
    });
  }
  return sqliteTransaction(database, 'immediate', (conn) => run(conn, true));
}

/** Cheap liveness check used by /__heartbeat__. */
export async function ping(database: Database): Promise<void> {
  await sql`select 1`.execute(database.db);
}

/**
 * Run `fn` in a transaction that writes. On SQLite it is BEGIN IMMEDIATE, so the write lock is
 * held from the start and processes sharing the file queue on the busy timeout instead of
 * failing; on PostgreSQL a transaction-scoped advisory lock on `lockKey` serializes writers of
 * the same key across processes.
 */
export async function writeTransaction<T>(database: Database, lockKey: number, fn: (trx: Db) => Promise<T>): Promise<T> {
  if (database.engine === 'postgres') {
    return database.db.transaction().execute(async (trx) => {
      await sql`select pg_advisory_xact_lock(${lockKey})`.execute(trx);
      return fn(trx);
    });
  }
  return sqliteTransaction(database, 'immediate', fn);
}

/** Run `fn` over one consistent snapshot (REPEATABLE READ on PostgreSQL, one read transaction on SQLite). */
export async function readTransaction<T>(database: Database, fn: (trx: Db) => Promise<T>): Promise<T> {
  if (database.engine === 'postgres') {
    return database.db.transaction().setIsolationLevel('repeatable read').execute(fn);
  }
  return sqliteTransaction(database, 'deferred', fn);
}

/**
 * A SQLite transaction on the one connection, begun the way we choose (Kysely's own always
 * says plain BEGIN): IMMEDIATE takes the write lock up front, DEFERRED only reads.
 */
function sqliteTransaction<T>(database: Database, mode: 'immediate' | 'deferred', fn: (conn: Db) => Promise<T>): Promise<T> {
  return database.db.connection().execute(async (conn) => {
    await sql`begin ${sql.raw(mode)}`.execute(conn);
    try {
      const result = await fn(conn);
      await sql`commit`.execute(conn);
      return result;
    } catch (err) {
      await sql`rollback`.execute(conn);
      throw err;
    }
  });
}
