import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll } from 'vitest';
import { buildApp, type App } from '../../src/app.js';
import { loadConfig, type RawConfig } from '../../src/config.js';
import { createTestDatabase, requirePostgres } from './postgres.js';

export type Engine = 'sqlite' | 'postgres';
export const ENGINES: Engine[] = ['sqlite', 'postgres'];

export const TEST_SECRET = 'foxden-test-master-secret-0123456789';

export interface TestServer {
  engine: Engine;
  app: App;
  /** Base URL, e.g. http://127.0.0.1:41234 */
  url: string;
  host: string;
  port: number;
  close(): Promise<void>;
}

/**
 * The engines tests run on here: SQLite always, PostgreSQL when reachable. Under CI=true a
 * missing PostgreSQL throws, so the run fails instead of skipping. Use with top-level await:
 * `describe.each(await testEngines())(...)`.
 */
export async function testEngines(): Promise<Engine[]> {
  return (await requirePostgres()) ? ['sqlite', 'postgres'] : ['sqlite'];
}

/**
 * Start a real Foxden server on 127.0.0.1 with a fresh SQLite file or a fresh PostgreSQL
 * database. `overrides` are FOXDEN_* keys.
 */
export async function startServer(engine: Engine, overrides: RawConfig = {}): Promise<TestServer> {
  // A caller may pass its own FOXDEN_DATA_DIR / FOXDEN_DATABASE_URL to share one database
  // between servers; then it owns that database and close() leaves it alone.
  const ownDir = overrides.FOXDEN_DATA_DIR === undefined;
  const dataDir = ownDir ? mkdtempSync(join(tmpdir(), 'foxden-test-')) : String(overrides.FOXDEN_DATA_DIR);
  const pgdb = engine === 'postgres' && overrides.FOXDEN_DATABASE_URL === undefined ? await createTestDatabase() : undefined;
  const config = loadConfig({
    env: {},
    overrides: {
      FOXDEN_DATA_DIR: dataDir,
      FOXDEN_PORT: 0,
      FOXDEN_SYNC_MASTER_SECRET: TEST_SECRET,
      FOXDEN_STORAGE_PURGE_INTERVAL_SECONDS: 0,
      ...(pgdb ? { FOXDEN_DATABASE_URL: pgdb.url } : {}),
      ...overrides,
    },
  });
  const app = await buildApp(config, { logger: false });
  await app.server.listen({ host: '127.0.0.1', port: 0 });
  const { port } = app.server.server.address() as AddressInfo;
  return {
    engine,
    app,
    url: `http://127.0.0.1:${port}`,
    host: '127.0.0.1',
    port,
    async close() {
      await app.close();
      if (pgdb) await pgdb.drop();
      if (ownDir) rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/**
 * Start one server for the enclosing describe block (beforeAll) and close it afterwards
 * (afterAll). The returned object is filled in when the server is up, so tests use it as is.
 */
export function useServer(engine: Engine, overrides: RawConfig = {}): TestServer {
  const server = {} as TestServer;
  beforeAll(async () => {
    Object.assign(server, await startServer(engine, overrides));
  });
  afterAll(async () => server.close?.());
  return server;
}
