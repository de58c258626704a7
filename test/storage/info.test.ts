import { describe, expect, it } from 'vitest';
import { StorageClient, ts, type Reply } from '../helpers/client.js';
import { testEngines, useServer } from '../helpers/server.js';

// sync-storage.md §5.3 rows 1, 2, 3, 13, 17 and 19: the info views and X-Weave-Timestamp.
// Behaviour asserted from §2.3, §2.6 and §2.8.

const TWO_DECIMALS = /^[0-9]+\.[0-9]{2}$/;
const PLD = '*'.repeat(500);

function items(n: number, payload = 'xxx'): { id: string; payload: string }[] {
  return Array.from({ length: n }, (_, i) => ({ id: String(i).padStart(2, '0'), payload }));
}

/** Every JSON number in an info/collections body is written with exactly two decimals (§2.3). */
function expectTwoDecimalValues(r: Reply): void {
  const values = r.text.match(/:\s*[^,}]+/g) ?? [];
  for (const v of values) expect(v.replace(/^:\s*/, '')).toMatch(TWO_DECIMALS);
}

describe.each(await testEngines())('storage info views (%s)', (engine) => {
  const server = useServer(engine);

  it('test_get_info_collections: lists exactly the written collections with their POST timestamps', async () => {
    const c = new StorageClient(server);
    let r = await c.post('/storage/xxx_col1', items(3));
    expect(r.status).toBe(200);
    const ts1: number = r.json().modified;
    expect(ts(r.header('x-last-modified'))).toBe(ts1);
    r = await c.post('/storage/xxx_col2', items(5));
    expect(r.status).toBe(200);
    const ts2: number = r.json().modified;
    expect(ts2).toBeGreaterThan(ts1);

    r = await c.get('/info/collections');
    expect(r.status).toBe(200);
    expect(r.header('content-type')).toMatch(/^application\/json/);
    expect(r.json()).toEqual({ xxx_col1: ts1, xxx_col2: ts2 });
    expectTwoDecimalValues(r);
    expect(r.header('x-weave-records')).toBe('2');
    // X-Last-Modified of info views is the storage timestamp = the latest write.
    expect(r.header('x-last-modified')).toMatch(TWO_DECIMALS);
    expect(ts(r.header('x-last-modified'))).toBe(ts2);
    expect(ts(r.header('x-weave-timestamp'))).toBeGreaterThanOrEqual(ts2);

    // Updating items in xxx_col2 moves only that collection's timestamp.
    r = await c.post('/storage/xxx_col2', items(2, 'yyy'));
    expect(r.status).toBe(200);
    const ts3: number = r.json().modified;
    expect(ts3).toBeGreaterThan(ts2);
    r = await c.get('/info/collections');
    expect(r.json()).toEqual({ xxx_col1: ts1, xxx_col2: ts3 });
    expect(ts(r.header('x-last-modified'))).toBe(ts3);
  });

  it('test_get_collection_count: info/collection_counts gives per-collection item counts', async () => {
    const c = new StorageClient(server);
    let r = await c.get('/info/collection_counts');
    expect(r.status).toBe(200);
    expect(r.json()).toEqual({});
    expect(r.header('x-weave-records')).toBe('0');

    expect((await c.post('/storage/xxx_col1', items(3))).status).toBe(200);
    r = await c.post('/storage/xxx_col2', items(5));
    expect(r.status).toBe(200);
    const last: number = r.json().modified;

    r = await c.get('/info/collection_counts');
    expect(r.status).toBe(200);
    expect(r.header('content-type')).toMatch(/^application\/json/);
    expect(r.json()).toEqual({ xxx_col1: 3, xxx_col2: 5 });
    expect(r.header('x-weave-records')).toBe('2');
    expect(ts(r.header('x-last-modified'))).toBe(last);

    // Deleting items by id lowers the count; a collection with no live items is omitted (§2.8).
    expect((await c.delete('/storage/xxx_col2?ids=00,01')).status).toBe(200);
    expect((await c.delete('/storage/xxx_col1?ids=00,01,02')).status).toBe(200);
    r = await c.get('/info/collection_counts');
    expect(r.json()).toEqual({ xxx_col2: 3 });
  });

  it('test_bad_cache: a newly created collection shows up in info/collections at once', async () => {
    const c = new StorageClient(server);
    let r = await c.get('/info/collections');
    expect(r.status).toBe(200);
    expect(r.json()).toEqual({});
    expect(r.header('x-weave-records')).toBe('0');

    r = await c.put('/storage/xxx_col1/1', { payload: 'a' });
    expect(r.status).toBe(200);
    const t1 = Number(r.text);
    r = await c.get('/info/collections');
    expect(r.json()).toEqual({ xxx_col1: t1 });

    r = await c.put('/storage/xxxx/125', { id: '125', payload: PLD });
    expect(r.status).toBe(200);
    const t2 = Number(r.text);
    r = await c.get('/info/collections');
    expect(Object.keys(r.json())).toHaveLength(2);
    expect(r.json()).toEqual({ xxx_col1: t1, xxxx: t2 });
    expect(r.header('x-weave-records')).toBe('2');
  });

  it('test_collection_usage: info/collection_usage is payload bytes / 1024 per collection', async () => {
    const c = new StorageClient(server);
    let r = await c.get('/info/collection_usage');
    expect(r.status).toBe(200);
    expect(r.json()).toEqual({});

    r = await c.post('/storage/xxx_col2', [
      { id: '13', payload: 'XyX' },
      { id: '14', payload: PLD },
    ]);
    expect(r.status).toBe(200);
    const t: number = r.json().modified;
    r = await c.put('/storage/xxx_col3/a', { payload: 'x'.repeat(1024) });
    expect(r.status).toBe(200);
    const t2 = Number(r.text);

    r = await c.get('/info/collection_usage');
    expect(r.status).toBe(200);
    expect(r.header('content-type')).toMatch(/^application\/json/);
    // A float, not rounded: (3 + 500) / 1024.
    expect(r.json()).toEqual({ xxx_col2: 503 / 1024, xxx_col3: 1 });
    expect(r.header('x-weave-records')).toBe('2');
    expect(ts(r.header('x-last-modified'))).toBe(t2);
    expect(t2).toBeGreaterThan(t);
  });

  it('test_x_timestamp_header: X-Weave-Timestamp is at least the client clock and close to it', async () => {
    const c = new StorageClient(server);
    expect((await c.post('/storage/xxx_col2', items(5))).status).toBe(200);
    const clientNow = () => Math.floor(Date.now() / 10) / 100;

    let now = clientNow();
    let r = await c.get('/storage/xxx_col2');
    expect(r.status).toBe(200);
    const getTs = ts(r.header('x-weave-timestamp'));
    expect(r.header('x-weave-timestamp')).toMatch(TWO_DECIMALS);
    expect(getTs).toBeGreaterThanOrEqual(now);
    expect(Math.abs(getTs - now)).toBeLessThanOrEqual(200);
    // On reads it is max(now, X-Last-Modified).
    expect(getTs).toBeGreaterThanOrEqual(ts(r.header('x-last-modified')));

    now = clientNow();
    r = await c.put('/storage/xxx_col2/12345', { payload: PLD });
    expect(r.status).toBe(200);
    const putTs = ts(r.header('x-weave-timestamp'));
    expect(putTs).toBeGreaterThanOrEqual(now);
    expect(Math.abs(putTs - now)).toBeLessThanOrEqual(200);
    // On writes it is the new timestamp T itself.
    expect(putTs).toBe(Number(r.text));
    expect(putTs).toBe(ts(r.header('x-last-modified')));

    now = clientNow();
    r = await c.post('/storage/xxx_col2', [
      { id: '12', payload: PLD },
      { id: '13', payload: PLD },
    ]);
    expect(r.status).toBe(200);
    const postTs = ts(r.header('x-weave-timestamp'));
    expect(postTs).toBeGreaterThanOrEqual(now);
    expect(Math.abs(postTs - now)).toBeLessThanOrEqual(200);
    expect(postTs).toBe(r.json().modified);
    expect(postTs).toBeGreaterThan(putTs);

    // Every storage response carries it, errors included.
    now = clientNow();
    r = await c.get('/storage/xxx_col2/nope');
    expect(r.status).toBe(404);
    expect(ts(r.header('x-weave-timestamp'))).toBeGreaterThanOrEqual(now);
    r = await c.get('/info/collections');
    expect(ts(r.header('x-weave-timestamp'))).toBeGreaterThanOrEqual(postTs);
  });

  it('test_quota: info/quota usage grows by exactly payload / 1024', async () => {
    const c = new StorageClient(server);
    let r = await c.get('/info/quota');
    expect(r.status).toBe(200);
    const before = r.json();
    expect(Array.isArray(before)).toBe(true);
    expect(before).toHaveLength(2);
    expect(before[0]).toBe(0);
    // No quota configured: the second element is null.
    expect(before[1]).toBeNull();

    r = await c.put('/storage/xxx_col2/12345', { payload: PLD });
    expect(r.status).toBe(200);
    const t = Number(r.text);
    r = await c.get('/info/quota');
    expect(r.status).toBe(200);
    expect(r.json()[0] - before[0]).toBe(500 / 1024);
    expect(r.json()[1]).toBeNull();
    expect(ts(r.header('x-last-modified'))).toBe(t);

    // Another collection adds up; overwriting replaces rather than adds.
    expect((await c.put('/storage/xxx_col3/1', { payload: PLD })).status).toBe(200);
    expect((await c.put('/storage/xxx_col2/12345', { payload: 'x'.repeat(100) })).status).toBe(200);
    r = await c.get('/info/quota');
    expect(r.json()[0]).toBe(600 / 1024);
  });
});
