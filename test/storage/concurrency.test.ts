import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StorageClient, ts } from '../helpers/client.js';
import { createTestDatabase } from '../helpers/postgres.js';
import { spawnServer } from '../helpers/process.js';
import { TEST_SECRET, startServer, testEngines, type Engine, type TestServer } from '../helpers/server.js';

// sync-storage.md 3: concurrent writes look sequential, timestamps strictly increase, no
// spurious 503s and no lost updates, within one process and across processes sharing a database.

/** One server in this process and one in a child process, sharing one database. */
async function sharedServers(engine: Engine): Promise<{ servers: TestServer[]; cleanup: () => Promise<void> }> {
  const dir = mkdtempSync(join(tmpdir(), 'foxden-shared-'));
  const pgdb = engine === 'postgres' ? await createTestDatabase() : undefined;
  const overrides = { FOXDEN_DATA_DIR: dir, ...(pgdb ? { FOXDEN_DATABASE_URL: pgdb.url } : {}) };
  // Started at the same time, so their migrations race as they would in production.
  const [local, child] = await Promise.all([
    startServer(engine, overrides),
    spawnServer({ ...overrides, FOXDEN_SYNC_MASTER_SECRET: TEST_SECRET, FOXDEN_LOG_LEVEL: 'warn' }),
  ]);
  const remote: TestServer = { engine, app: local.app, url: child.url, host: '127.0.0.1', port: child.port, close: async () => void (await child.stop()) };
  return {
    servers: [local, remote],
    cleanup: async () => {
      await remote.close();
      await local.close();
      if (pgdb) await pgdb.drop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

describe.each(await testEngines())('concurrency (%s)', (engine) => {
  let servers: TestServer[];
  let cleanup: () => Promise<void>;
  beforeAll(async () => {
    ({ servers, cleanup } = await sharedServers(engine));
  });
  afterAll(async () => cleanup?.());

  it('concurrent POSTs from one user all succeed with distinct, increasing timestamps and nothing lost', async () => {
    const uid = 4242;
    const clients = [new StorageClient(servers[0]!, uid), new StorageClient(servers[1]!, uid)];
    const writes = Array.from({ length: 24 }, (_, i) =>
      clients[i % 2]!.post('/storage/history', [
        { id: `r${i}a`, payload: `p${i}` },
        { id: `r${i}b`, payload: `p${i}` },
      ]),
    );
    const replies = await Promise.all(writes);
    expect(replies.map((r) => r.status)).toEqual(replies.map(() => 200));
    const stamps = replies.map((r) => r.json().modified as number);
    expect(new Set(stamps).size).toBe(stamps.length);

    const all = await clients[0]!.get('/storage/history?full=1&sort=oldest');
    expect(all.json()).toHaveLength(48);
    const latest = Math.max(...stamps);
    expect(ts(all.header('x-last-modified'))).toBe(latest);
    const info = await clients[1]!.get('/info/collections');
    expect(info.json().history).toBe(latest);
    expect(ts(info.header('x-last-modified'))).toBe(latest);
    // Each record carries the timestamp of the POST that wrote it.
    const byId = new Map(all.json().map((b: { id: string; modified: number }) => [b.id, b.modified]));
    stamps.forEach((t, i) => expect(byId.get(`r${i}a`)).toBe(t));
  });

  it('read-modify-write races: exactly one conditional PUT wins, the rest get 412', async () => {
    const uid = 4343;
    const a = new StorageClient(servers[0]!, uid);
    const b = new StorageClient(servers[1]!, uid);
    const first = await a.put('/storage/meta/global', { payload: 'v0' });
    const base = first.text;
    const attempts = Array.from({ length: 10 }, (_, i) =>
      (i % 2 ? a : b).put('/storage/meta/global', { payload: `v${i + 1}` }, { headers: { 'x-if-unmodified-since': base } }),
    );
    const replies = await Promise.all(attempts);
    const statuses = replies.map((r) => r.status).sort();
    expect(statuses.filter((s) => s === 200)).toHaveLength(1);
    expect(statuses.filter((s) => s === 412)).toHaveLength(9);
    const winner = replies.findIndex((r) => r.status === 200);
    const stored = await a.get('/storage/meta/global');
    expect(stored.json().payload).toBe(`v${winner + 1}`);
    for (const r of replies.filter((x) => x.status === 412)) expect(ts(r.header('x-last-modified'))).toBe(Number(replies[winner]!.text));
  });

  it('a write after a delete of everything still gets a later timestamp', async () => {
    const c = new StorageClient(servers[0]!, 4444);
    const w = await c.put('/storage/tabs/t1', { payload: 'x' });
    const d = await c.delete('/storage', { headers: { 'x-confirm-delete': '1' } });
    expect(d.status).toBe(200);
    expect(ts(d.header('x-weave-timestamp'))).toBeGreaterThan(Number(w.text));
    const info = await c.get('/info/collections');
    expect(info.json()).toEqual({});
    expect(ts(info.header('x-last-modified'))).toBe(ts(d.header('x-weave-timestamp')));
    const again = await c.put('/storage/tabs/t1', { payload: 'y' });
    expect(Number(again.text)).toBeGreaterThan(ts(d.header('x-weave-timestamp')));
  });
});
