import { describe, expect, it } from 'vitest';
import { StorageClient } from '../helpers/client.js';
import { testEngines, useServer } from '../helpers/server.js';

// StorageService.retireUser: the tokenserver replaced (new keys) or retired (account gone) a
// storage uid. Its records, batches and collections go, user_storage.retired_at is set, and
// from then on every write of that uid is refused with 401 (the client fetches a new token);
// reads find nothing.

describe.each(await testEngines())('storage retired users (%s)', (engine) => {
  const server = useServer(engine);
  const db = () => server.app.database.db;

  async function seeded(): Promise<{ c: StorageClient; batch: string }> {
    const c = new StorageClient(server);
    expect((await c.post('/storage/bookmarks', [{ id: 'a', payload: 'x' }, { id: 'b', payload: 'y' }])).status).toBe(200);
    expect((await c.put('/storage/tabs/t', { payload: 'z' })).status).toBe(200);
    const staged = await c.post('/storage/history?batch=true', [{ id: 'h', payload: 'p' }]);
    expect(staged.status).toBe(202);
    return { c, batch: staged.json().batch as string };
  }

  it('deletes records, batches and collections, and sets retired_at', async () => {
    const { c } = await seeded();
    const other = new StorageClient(server);
    expect((await other.put('/storage/tabs/keep', { payload: 'k' })).status).toBe(200);

    await server.app.storage.retireUser(c.uid);

    for (const table of ['bsos', 'batches', 'batch_bsos', 'user_collections'] as const) {
      const rows = await db().selectFrom(table).select('user_id').where('user_id', '=', c.uid).execute();
      expect(rows, table).toEqual([]);
    }
    const row = await db().selectFrom('user_storage').selectAll().where('user_id', '=', c.uid).executeTakeFirstOrThrow();
    expect(row.retired_at).toBeGreaterThan(Date.now() - 60_000);
    // Reads come back empty, as for any user without data.
    expect((await c.get('/info/collections')).json()).toEqual({});
    expect((await c.get('/storage/bookmarks')).json()).toEqual([]);
    expect((await c.get('/storage/tabs/t')).status).toBe(404);
    // Another user is untouched.
    expect((await other.get('/storage/tabs')).json()).toEqual(['keep']);
  });

  it('refuses every write of a retired uid with 401', async () => {
    const { c, batch } = await seeded();
    await server.app.storage.retireUser(c.uid);
    const writes = [
      await c.put('/storage/tabs/t', { payload: 'again' }),
      await c.post('/storage/bookmarks', [{ id: 'c', payload: 'x' }]),
      await c.post('/storage/history?batch=true', [{ id: 'h', payload: 'p' }]),
      await c.post(`/storage/history?batch=${encodeURIComponent(batch)}&commit=true`, []),
      await c.delete('/storage/bookmarks'),
      await c.delete('/storage/bookmarks?ids=a'),
      await c.delete('/storage/bookmarks/a'),
      await c.delete('/storage'),
      await c.delete(''),
    ];
    for (const r of writes) {
      expect(r.status).toBe(401);
      expect(r.text).toBe('0');
    }
    expect(await db().selectFrom('bsos').select('bso_id').where('user_id', '=', c.uid).execute()).toEqual([]);
  });

  it('retires a uid that never stored anything (the row is created), and retiring twice is harmless', async () => {
    const c = new StorageClient(server);
    await server.app.storage.retireUser(c.uid);
    await server.app.storage.retireUser(c.uid);
    const row = await db().selectFrom('user_storage').selectAll().where('user_id', '=', c.uid).executeTakeFirstOrThrow();
    expect(row.retired_at).not.toBeNull();
    expect(row.storage_modified_ms).toBe(0);
    expect((await c.put('/storage/tabs/t', { payload: 'x' })).status).toBe(401);
    expect((await c.get('/info/collections')).status).toBe(200);
  });
});
