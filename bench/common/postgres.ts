import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import pg from 'pg';
import { atCleanup } from './processes.js';
import { usageError } from './options.js';

// PostgreSQL for the benches: the admin URL (on 127.0.0.1 only), a throw-away database per
// run that is dropped at cleanup, and the server processes that work for it (for CPU accounting).

/** The admin URL a bench uses when --pg-url is not given. */
export const DEFAULT_PG_ADMIN_URL = process.env.FOXDEN_BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

/** `raw` as a URL on 127.0.0.1 ('localhost' is rewritten), or a usage error: the benches only talk to this machine. */
export function localPgUrl(usage: string, raw: string): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return usageError(usage, `--pg-url is not a URL (got ${raw})`);
  }
  if (url.hostname === 'localhost') url.hostname = '127.0.0.1';
  if (url.hostname !== '127.0.0.1') usageError(usage, `--pg-url must point at 127.0.0.1 (got ${url.hostname})`);
  return url;
}

/** One admin connection for `fn`, closed afterwards. */
export async function pgAdmin<T>(admin: URL, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: admin.toString(), connectionTimeoutMillis: 5000 });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end().catch(() => {});
  }
}

/** A fresh database `foxden_bench_<random>`, dropped (with force) when the bench cleans up. */
export async function createBenchDatabase(admin: URL): Promise<{ name: string; url: string }> {
  const name = `foxden_bench_${randomBytes(5).toString('hex')}`;
  await pgAdmin(admin, (c) => c.query(`create database ${name}`));
  atCleanup(() => pgAdmin(admin, (c) => c.query(`drop database if exists ${name} with (force)`)).then(() => undefined), `database ${name}`);
  const url = new URL(admin.toString());
  url.pathname = `/${name}`;
  return { name, url: url.toString() };
}

/** The server's background workers: they work for every database, the bench's included. */
const PG_BACKGROUND = /^postgres: [^:]+: (checkpointer|background writer|walwriter|autovacuum launcher|logical replication launcher|parallel worker for PID \d+)/;

/** PostgreSQL processes doing a bench's work: backends of database `dbName`, and the background workers. */
export function pgProcesses(dbName: string | undefined): number[] {
  if (!dbName) return [];
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const title = readFileSync(`/proc/${entry}/cmdline`, 'utf8');
      if (title.startsWith('postgres: ') && (title.includes(dbName) || PG_BACKGROUND.test(title))) pids.push(Number(entry));
    } catch {
      // gone already
    }
  }
  return pids;
}
