import { describe, expect, it } from 'vitest';
import { StorageClient, ts, type Reply } from '../helpers/client.js';
import { testEngines, useServer } from '../helpers/server.js';

// sync-storage.md §5.3 rows 14, 15, 16, 24, 25 and 32: deleting collections, records and all
// storage. Behaviour asserted from §2.6, §2.8, §2.9, §3.6 and the §6 recommendations
// (DELETE collection body {"modified": T}, DELETE storage body {}, `?ids=` empty → 400,
// X-Last-Modified of a DELETE = the new T).

const TWO_DECIMALS = /^[0-9]+\.[0-9]{2}$/;
const PLD = '*'.repeat(500);

const three = () => [
  { id: '12', payload: PLD },
  { id: '13', payload: PLD },
  { id: '14', payload: PLD },
];

/** 200 with body {"modified": T}; X-Last-Modified and X-Weave-Timestamp are T. */
function expectDeleted(r: Reply): number {
  expect(r.status).toBe(200);
  expect(r.header('content-type')).toMatch(/^application\/json/);
  const body = r.json();
  expect(Object.keys(body)).toEqual(['modified']);
  expect(r.text).toMatch(/^\{\s*"modified":\s*[0-9]+\.[0-9]{2}\s*\}$/);
  expect(r.header('x-last-modified')).toMatch(TWO_DECIMALS);
  expect(ts(r.header('x-last-modified'))).toBe(body.modified);
  expect(ts(r.header('x-weave-timestamp'))).toBe(body.modified);
  return body.modified as number;
}

async function post(c: StorageClient, collection: string, records: object[]): Promise<number> {
  const r = await c.post(`/storage/${collection}`, records);
  expect(r.status).toBe(200);
  expect(r.json().failed).toEqual({});
  return r.json().modified as number;
}

const sorted = (list: string[]) => [...list].sort();

describe.each(await testEngines())('storage deletes (%s)', (engine) => {
  const server = useServer(engine);

  it('test_delete_collection_items: DELETE collection empties it, DELETE with ids removes only those', async () => {
    const c = new StorageClient(server);
    const other = await post(c, 'xxx_other', [{ id: 'keep', payload: 'x' }]);
    const t0 = await post(c, 'xxx_col2', three());
    expect((await c.get('/storage/xxx_col2')).json()).toHaveLength(3);

    // Whole collection: gone from reads and from info/collections; storage timestamp advances.
    const t1 = expectDeleted(await c.delete('/storage/xxx_col2'));
    expect(t1).toBeGreaterThan(t0);
    let r = await c.get('/storage/xxx_col2');
    expect(r.json()).toEqual([]);
    expect(r.header('x-last-modified')).toBe('0.00');
    r = await c.get('/info/collections');
    expect(r.json()).toEqual({ xxx_other: other });
    expect(ts(r.header('x-last-modified'))).toBe(t1);
    expect((await c.get('/storage/xxx_other')).json()).toEqual(['keep']);

    // By ids: only those go; the collection timestamp becomes T.
    await post(c, 'xxx_col2', three());
    const t2 = expectDeleted(await c.delete('/storage/xxx_col2?ids=12,14'));
    expect((await c.get('/storage/xxx_col2')).json()).toEqual(['13']);
    r = await c.get('/info/collections');
    expect(r.json().xxx_col2).toBe(t2);
    expect(ts(r.header('x-last-modified'))).toBe(t2);

    // Deleting the last one by id keeps the (empty) collection, stamped with T.
    const t3 = expectDeleted(await c.delete('/storage/xxx_col2?ids=13'));
    expect(t3).toBeGreaterThan(t2);
    r = await c.get('/storage/xxx_col2');
    expect(r.json()).toEqual([]);
    expect(ts(r.header('x-last-modified'))).toBe(t3);
    expect((await c.get('/info/collections')).json()).toEqual({ xxx_other: other, xxx_col2: t3 });

    // Unknown ids are ignored.
    const t4 = expectDeleted(await c.delete('/storage/xxx_other?ids=nope,alsonope'));
    expect(t4).toBeGreaterThan(t3);
    expect((await c.get('/storage/xxx_other')).json()).toEqual(['keep']);

    // An empty ids list is rejected rather than taken as "everything" (§6).
    for (const q of ['ids=', 'ids=,', 'ids=%20']) {
      r = await c.delete(`/storage/xxx_other?${q}`);
      expect(r.status, q).toBe(400);
      expect(r.json(), q).toBe(0);
    }
    expect((await c.get('/storage/xxx_other')).json()).toEqual(['keep']);

    // A collection that does not exist: 200.
    r = await c.delete('/storage/xxx_never');
    expect(r.status).toBe(200);
    expect(r.json().modified).toBeGreaterThanOrEqual(t4);
    r = await c.delete('/storage/xxx_never?ids=a,b');
    expect(r.status).toBe(200);
    expect(r.json().modified).toBeGreaterThanOrEqual(t4);
    expect(Object.keys((await c.get('/info/collections')).json()).sort()).toEqual(['xxx_col2', 'xxx_other']);
  });

  it('test_delete_item: DELETE item works, 404 for a missing item, timestamps advance', async () => {
    const c = new StorageClient(server);
    await post(c, 'xxx_col2', three());
    let r = await c.get('/storage/xxx_col2');
    expect(r.json()).toHaveLength(3);
    const before = ts(r.header('x-last-modified'));

    const t = expectDeleted(await c.delete('/storage/xxx_col2/13'));
    expect(t).toBeGreaterThan(before);
    r = await c.get('/storage/xxx_col2');
    expect(sorted(r.json())).toEqual(['12', '14']);
    expect(ts(r.header('x-last-modified'))).toBe(t);
    expect((await c.get('/storage/xxx_col2/13')).status).toBe(404);

    // Missing item, already deleted item, missing collection: 404 with body 0.
    for (const path of ['/storage/xxx_col2/12982', '/storage/xxx_col2/13', '/storage/xxx_nothere/12']) {
      r = await c.delete(path);
      expect(r.status, path).toBe(404);
      expect(r.json(), path).toBe(0);
    }

    // Collection and storage timestamps are T.
    r = await c.get('/info/collections');
    expect(r.json()).toEqual({ xxx_col2: t });
    expect(ts(r.header('x-last-modified'))).toBe(t);
    expect(ts(r.header('x-last-modified'))).toBeGreaterThan(before);
  });

  it('test_delete_storage: DELETE /storage wipes everything; a later collection DELETE is still 200', async () => {
    const c = new StorageClient(server);
    await post(c, 'xxx_col1', [{ id: 'a', payload: 'x' }]);
    const last = await post(c, 'xxx_col2', three());
    expect((await c.get('/storage/xxx_col2')).json()).toHaveLength(3);

    // The way Firefox wipes: DELETE storage (no trailing slash) with X-Confirm-Delete.
    let r = await c.delete('/storage', { headers: { 'x-confirm-delete': '1' } });
    expect(r.status).toBe(200);
    expect(r.header('content-type')).toMatch(/^application\/json/);
    expect(r.json()).toEqual({});
    expect(r.header('x-weave-timestamp')).toMatch(TWO_DECIMALS);
    const wiped = ts(r.header('x-weave-timestamp'));
    expect(wiped).toBeGreaterThan(last);

    r = await c.get('/storage/xxx_col2');
    expect(r.status).toBe(200);
    expect(r.json()).toEqual([]);
    expect((await c.get('/storage/xxx_col1/a')).status).toBe(404);
    expect((await c.get('/info/collections')).json()).toEqual({});
    expect((await c.get('/info/collection_counts')).json()).toEqual({});
    expect((await c.get('/info/quota')).json()[0]).toBe(0);
    r = await c.delete('/storage/xxx_col2');
    expect(r.status).toBe(200);

    // Writes after the wipe work and never go back in time.
    const again = await post(c, 'xxx_col2', [{ id: 'new', payload: 'x' }]);
    expect(again).toBeGreaterThanOrEqual(wiped);
    expect((await c.get('/storage/xxx_col2')).json()).toEqual(['new']);

    // DELETE on the bare /1.5/<uid> does the same.
    r = await c.delete('');
    expect(r.status).toBe(200);
    expect(r.json()).toEqual({});
    expect(ts(r.header('x-weave-timestamp'))).toBeGreaterThan(again);
    expect((await c.get('/info/collections')).json()).toEqual({});
    expect((await c.get('/storage/xxx_col2')).json()).toEqual([]);
  });

  it('test_guid_deletion: UUID-style ids in passwords can be deleted by ids', async () => {
    const c = new StorageClient(server);
    const ids = Array.from({ length: 5 }, (_, i) => `6820f3ca-6e8a-4ff4-8af7-8b3625d7d65${i}`);
    const r = await c.post(
      '/storage/passwords',
      ids.map((id) => ({ id, payload: PLD })),
    );
    expect(r.status).toBe(200);
    expect(r.json().success).toEqual(ids);

    const gone = ids.slice(0, 2).join(',');
    expectDeleted(await c.delete(`/storage/passwords?ids=${gone}`));
    expect((await c.get(`/storage/passwords?ids=${gone}`)).json()).toEqual([]);
    expect(sorted((await c.get('/storage/passwords')).json())).toEqual(ids.slice(2));
  });

  it('test_specifying_ids_with_percent_encoded_query_string: ids joined by %2C work for DELETE and GET', async () => {
    const c = new StorageClient(server);
    const all = Array.from({ length: 5 }, (_, i) => `test-${i}`);
    await post(
      c,
      'xxx_col2',
      all.map((id) => ({ id, payload: PLD })),
    );
    const encoded = encodeURIComponent('test-0,test-1');
    expect(encoded).toBe('test-0%2Ctest-1');

    expect(sorted((await c.get(`/storage/xxx_col2?ids=${encoded}`)).json())).toEqual(['test-0', 'test-1']);
    expectDeleted(await c.delete(`/storage/xxx_col2?ids=${encoded}`));
    expect((await c.get(`/storage/xxx_col2?ids=${encoded}`)).json()).toEqual([]);
    expect(sorted((await c.get('/storage/xxx_col2')).json())).toEqual(['test-2', 'test-3', 'test-4']);
  });

  it('test_that_batch_deletes_are_limited_to_max_number_of_ids: 99 and 100 ids work, 101 → 400', async () => {
    const c = new StorageClient(server);
    const idList = (n: number) => Array.from({ length: n }, (_, i) => String(i).padStart(2, '0')).join(',');
    const put = async () => expect((await c.put('/storage/xxx_col2/01', { id: '01', payload: 'testing' })).status).toBe(200);

    await put();
    expectDeleted(await c.delete(`/storage/xxx_col2?ids=${idList(99)}`));
    expect((await c.get('/storage/xxx_col2')).json()).toEqual([]);

    await put();
    expectDeleted(await c.delete(`/storage/xxx_col2?ids=${idList(100)}`));
    expect((await c.get('/storage/xxx_col2')).json()).toEqual([]);

    await put();
    const r = await c.delete(`/storage/xxx_col2?ids=${idList(101)}`);
    expect(r.status).toBe(400);
    expect(r.json()).toBe(0);
    // Nothing was deleted.
    expect((await c.get('/storage/xxx_col2')).json()).toEqual(['01']);
  });
});
