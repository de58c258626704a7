import { randomBytes } from 'node:crypto';
import pg from 'pg';

// PostgreSQL for tests: FOXDEN_TEST_DATABASE_URL, or the server on 127.0.0.1:5432. Each
// test file creates its own database and drops it afterwards.

export const ADMIN_URL = process.env.FOXDEN_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

let reachable: Promise<boolean> | undefined;

export function postgresAvailable(): Promise<boolean> {
  reachable ??= (async () => {
    const client = new pg.Client({ connectionString: ADMIN_URL, connectionTimeoutMillis: 3000 });
    try {
      await client.connect();
      await client.query('select 1');
      return true;
    } catch {
      return false;
    } finally {
      await client.end().catch(() => {});
    }
  })();
  return reachable;
}

/** Under CI=true PostgreSQL must be there; elsewhere its tests are skipped when it is not. */
export async function requirePostgres(): Promise<boolean> {
  const ok = await postgresAvailable();
  if (!ok && process.env.CI === 'true') throw new Error(`PostgreSQL is not reachable at ${ADMIN_URL} and CI=true: failing, not skipping`);
  return ok;
}

async function admin<T>(fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: ADMIN_URL });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/** Create an empty database and return its URL and a function that drops it. */
export async function createTestDatabase(): Promise<{ url: string; drop: () => Promise<void> }> {
  const name = `foxden_test_${randomBytes(6).toString('hex')}`;
  await admin((c) => c.query(`create database ${name}`));
  const url = new URL(ADMIN_URL);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    drop: () => admin((c) => c.query(`drop database if exists ${name} with (force)`)).then(() => undefined),
  };
}
