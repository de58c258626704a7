import { describe, expect, it } from 'vitest';
import { StorageClient, ts } from '../helpers/client.js';
import { testEngines, useServer } from '../helpers/server.js';

// Quota enforcement (sync-storage.md 2.13) and the purge of expired records and batches.

const QUOTA = 10_000;

describe.each(await testEngines())('quota (%s)', (engine) => {
  const server = useServer(engine, { FOXDEN_STORAGE_QUOTA_BYTES: QUOTA });

  it('reports the quota in info/quota and info/configuration', async () => {
    const c = new StorageClient(server);
    await c.put('/storage/forms/f', { payload: 'x'.repeat(512) });
    expect((await c.get('/info/quota')).json()).toEqual([0.5, QUOTA / 1024]);
    expect((await c.get('/info/configuration')).json().max_quota_limit).toBe(QUOTA);
  });

  it('refuses a write past the quota with 403 and body 14, and keeps what was stored', async () => {
    const c = new StorageClient(server);
    const ok = await c.post('/storage/history', [{ id: 'a', payload: 'a'.repeat(6000) }]);
    expect(ok.status).toBe(200);
    const over = await c.post('/storage/bookmarks', [{ id: 'b', payload: 'b'.repeat(5000) }]);
    expect(over.status).toBe(403);
    expect(over.text).toBe('14');
    expect((await c.put('/storage/tabs/t', { payload: 't'.repeat(4500) })).status).toBe(403);
    const info = await c.get('/info/collections');
    expect(Object.keys(info.json())).toEqual(['history']);
    expect((await c.get('/storage/history/a')).json().payload).toBe('a'.repeat(6000));
  });

  it('counts replaced and deleted records correctly, and warns when less than 1 MB is left', async () => {
    const c = new StorageClient(server);
    const first = await c.put('/storage/prefs/p', { payload: 'p'.repeat(9000) });
    expect(first.status).toBe(200);
    expect(Number(first.header('x-weave-quota-remaining'))).toBeCloseTo(1000 / 1024, 2);
    // Replacing a record counts only its new size.
    expect((await c.put('/storage/prefs/p', { payload: 'q'.repeat(9500) })).status).toBe(200);
    expect((await c.put('/storage/prefs/other', { payload: 'r'.repeat(1000) })).status).toBe(403);
    // Deleting frees the space.
    expect((await c.delete('/storage/prefs/p')).status).toBe(200);
    const after = await c.put('/storage/prefs/other', { payload: 'r'.repeat(1000) });
    expect(after.status).toBe(200);
    expect(Number(after.header('x-weave-quota-remaining'))).toBeCloseTo(9000 / 1024, 2);
    // Deleting the collection frees it too.
    expect((await c.delete('/storage/prefs')).status).toBe(200);
    expect((await c.put('/storage/prefs/big', { payload: 'z'.repeat(9999) })).status).toBe(200);
  });

  it('a batch commit past the quota fails whole and leaves the batch uncommitted', async () => {
    const c = new StorageClient(server);
    const start = await c.post('/storage/addons?batch=true', [{ id: 'a1', payload: 'a'.repeat(6000) }]);
    expect(start.status).toBe(202);
    const commit = await c.post(`/storage/addons?batch=${start.json().batch}&commit=true`, [{ id: 'a2', payload: 'a'.repeat(6000) }]);
    expect(commit.status).toBe(403);
    expect(commit.text).toBe('14');
    expect((await c.get('/storage/addons')).json()).toEqual([]);
  });
});

describe.each(await testEngines())('purge (%s)', (engine) => {
  const server = useServer(engine, { FOXDEN_STORAGE_QUOTA_BYTES: 5000 });

  it('removes expired records and their bytes, and nothing live', async () => {
    const c = new StorageClient(server);
    await c.post('/storage/history', [
      { id: 'gone', payload: 'g'.repeat(4000), ttl: 0 },
      { id: 'kept', payload: 'k'.repeat(100) },
    ]);
    // The expired record still counts against the quota until purged.
    expect((await c.put('/storage/history/new', { payload: 'n'.repeat(1000) })).status).toBe(403);
    const purged = await server.app.storage.purgeExpired();
    expect(purged).toBeGreaterThanOrEqual(1);
    const db = server.app.database.db;
    const rows = await db.selectFrom('bsos').select('bso_id').where('user_id', '=', c.uid).orderBy('bso_id').execute();
    expect(rows.map((r) => r.bso_id)).toEqual(['kept']);
    expect((await c.put('/storage/history/new', { payload: 'n'.repeat(1000) })).status).toBe(200);
    expect((await c.get('/storage/history?sort=oldest')).json()).toEqual(['kept', 'new']);
  });

  it('removes expired batches with their staged items', async () => {
    const c = new StorageClient(server);
    const start = await c.post('/storage/tabs?batch=true', [{ id: 't', payload: 'x' }]);
    const batch = start.json().batch as string;
    const db = server.app.database.db;
    await db.updateTable('batches').set({ expiry_ms: Date.now() - 1 }).where('batch_id', '=', batch).execute();
    await server.app.storage.purgeExpired();
    expect(await db.selectFrom('batch_bsos').select('bso_id').where('batch_id', '=', batch).execute()).toEqual([]);
    const commit = await c.post(`/storage/tabs?batch=${batch}&commit=true`, []);
    expect(commit.status).toBe(400);
    expect(commit.text).toBe('0');
  });

  it('keeps the storage timestamp where it was', async () => {
    const c = new StorageClient(server);
    const w = await c.put('/storage/forms/f', { payload: 'x', ttl: 0 });
    await server.app.storage.purgeExpired();
    const info = await c.get('/info/collections');
    expect(ts(info.header('x-last-modified'))).toBe(Number(w.text));
  });
});
