import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { migrate, openDatabase, type Database } from '../../src/db/index.js';
import { ensureSecret } from '../../src/db/secrets.js';
import { createTestDatabase } from '../helpers/postgres.js';
import { CLI } from '../helpers/process.js';
import { testEngines } from '../helpers/server.js';

// Migrations run on every start: idempotent, and safe when several processes start at once.

describe.each(await testEngines())('database (%s)', (engine) => {
  const cleanups: (() => Promise<void>)[] = [];
  // Databases close before their directories go: open() puts its closer first.
  afterAll(async () => {
    for (const c of cleanups) await c();
  });

  async function fresh(): Promise<() => Promise<Database>> {
    const dataDir = mkdtempSync(join(tmpdir(), 'foxden-db-'));
    cleanups.push(async () => rmSync(dataDir, { recursive: true, force: true }));
    let databaseUrl: string | undefined;
    if (engine === 'postgres') {
      const pgdb = await createTestDatabase();
      cleanups.push(pgdb.drop);
      databaseUrl = pgdb.url;
    }
    return async () => {
      const db = await openDatabase({ databaseUrl, dataDir });
      cleanups.unshift(() => db.close());
      return db;
    };
  }

  it('migrates a fresh database once, then finds nothing to do', async () => {
    const open = await fresh();
    const db = await open();
    expect(await migrate(db)).toEqual(['0001_secrets', '0002_storage', '0003_accounts', '0004_oauth_tokenserver']);
    expect(await migrate(db)).toEqual([]);
    const names = await db.db.selectFrom('collections').select(['collection_id', 'name']).orderBy('collection_id').execute();
    expect(names.slice(0, 3)).toEqual([
      { collection_id: 1, name: 'clients' },
      { collection_id: 2, name: 'crypto' },
      { collection_id: 3, name: 'forms' },
    ]);
    expect(names).toHaveLength(13);
    // Custom collections are numbered from 101, as upstream does.
    await db.db.insertInto('collections').values({ name: 'custom' }).execute();
    const custom = await db.db.selectFrom('collections').select('collection_id').where('name', '=', 'custom').executeTakeFirstOrThrow();
    expect(custom.collection_id).toBe(101);
  });

  it('lets several processes migrate the same database at the same time', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'foxden-db-'));
    cleanups.push(async () => rmSync(dataDir, { recursive: true, force: true }));
    const env: Record<string, string> = { PATH: process.env.PATH ?? '', FOXDEN_DATA_DIR: dataDir };
    if (engine === 'postgres') {
      const pgdb = await createTestDatabase();
      cleanups.push(pgdb.drop);
      env.FOXDEN_DATABASE_URL = pgdb.url;
    }
    const runs = await Promise.all(
      [1, 2, 3].map(
        () =>
          new Promise<{ code: number | null; out: string }>((res) => {
            const p = spawn(process.execPath, [CLI, 'migrate'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
            let out = '';
            p.stdout.on('data', (d) => (out += d));
            p.stderr.on('data', (d) => (out += d));
            p.on('exit', (code) => res({ code, out }));
          }),
      ),
    );
    expect(runs.map((r) => r.code)).toEqual([0, 0, 0]);
    // Exactly one process applied the migrations; the others found the database up to date.
    expect(runs.filter((r) => r.out.includes('applied: 0001_secrets, 0002_storage, 0003_accounts'))).toHaveLength(1);
    expect(runs.filter((r) => r.out.includes('database is up to date'))).toHaveLength(2);
  });

  it('generates a secret once and every connection reads the same one', async () => {
    const open = await fresh();
    const [a, b] = await Promise.all([open(), open()]);
    await migrate(a);
    const [s1, s2] = await Promise.all([ensureSecret(a.db, 'x'), ensureSecret(b.db, 'x')]);
    expect(s1).toBe(s2);
    expect(await ensureSecret(b.db, 'x')).toBe(s1);
    expect(await ensureSecret(a.db, 'y')).not.toBe(s1);
  });
});
