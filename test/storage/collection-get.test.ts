import { describe, expect, it } from 'vitest';
import { StorageClient, ts, type Reply } from '../helpers/client.js';
import { testEngines, useServer } from '../helpers/server.js';

// sync-storage.md §5.3 rows 4, 5, 6, 7, 21, 23, 26, 27, 28 and 31: reading collections and
// items. Behaviour asserted from §2.3, §2.5, §2.6, §2.7, §2.8 and §2.9.

const TWO_DECIMALS = /^[0-9]+\.[0-9]{2}$/;
const PLD = '*'.repeat(500);

interface Bso {
  id: string;
  modified: number;
  payload: string;
  sortindex?: number;
}

function items(n: number, payload = 'xxx'): { id: string; payload: string }[] {
  return Array.from({ length: n }, (_, i) => ({ id: String(i).padStart(2, '0'), payload }));
}

const sorted = (list: string[]) => [...list].sort();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The raw body writes every `modified` as a number with exactly two decimals (§2.3). */
function expectModifiedHasTwoDecimals(r: Reply, count: number): void {
  const found = [...r.text.matchAll(/"modified":\s*([^,}\s]+)/g)].map((m) => m[1]);
  expect(found).toHaveLength(count);
  for (const v of found) expect(v).toMatch(TWO_DECIMALS);
}

/** Follows X-Weave-Next-Offset with page size `limit` and returns the concatenated pages. */
async function pageThrough(c: StorageClient, query: string, limit: number): Promise<unknown[]> {
  const out: unknown[] = [];
  let offset: string | null = null;
  for (let guard = 0; guard < 100; guard++) {
    const r: Reply = await c.get(`${query}&limit=${limit}${offset === null ? '' : `&offset=${encodeURIComponent(offset)}`}`);
    expect(r.status).toBe(200);
    const page = r.json() as unknown[];
    expect(page.length).toBeLessThanOrEqual(limit);
    expect(r.header('x-weave-records')).toBe(String(page.length));
    out.push(...page);
    offset = r.header('x-weave-next-offset');
    if (offset === null) return out;
    expect(page.length).toBe(limit);
  }
  throw new Error('paging did not end');
}

describe.each(await testEngines())('storage collection and item reads (%s)', (engine) => {
  const server = useServer(engine);

  it('test_get_collection_only: missing collection, ids, newer, older, full, limit/offset paging and sort orders', async () => {
    const c = new StorageClient(server);
    let r = await c.post('/storage/xxx_col2', items(5));
    expect(r.status).toBe(200);

    // A collection that does not exist reads as [] with X-Last-Modified 0.00.
    r = await c.get('/storage/nonexistent');
    expect(r.status).toBe(200);
    expect(r.json()).toEqual([]);
    expect(r.header('x-weave-records')).toBe('0');
    expect(r.header('x-last-modified')).toBe('0.00');

    // Everything at once.
    r = await c.get('/storage/xxx_col2');
    expect(r.status).toBe(200);
    expect(sorted(r.json())).toEqual(['00', '01', '02', '03', '04']);
    expect(r.header('x-weave-records')).toBe('5');

    // ids: only the listed ids that exist.
    r = await c.get('/storage/xxx_col2?ids=01,03,17');
    expect(r.status).toBe(200);
    expect(sorted(r.json())).toEqual(['01', '03']);
    expect(r.header('x-weave-records')).toBe('2');

    // newer is strict.
    r = await c.put('/storage/xxx_newer/128', { id: '128', payload: 'x' });
    const n1 = ts(r.header('x-last-modified'));
    r = await c.put('/storage/xxx_newer/129', { id: '129', payload: 'x' });
    const n2 = ts(r.header('x-last-modified'));
    expect(n1).toBeLessThan(n2);
    expect((await c.get(`/storage/xxx_newer?newer=${n1.toFixed(2)}`)).json()).toEqual(['129']);
    expect((await c.get(`/storage/xxx_newer?newer=${n2.toFixed(2)}`)).json()).toEqual([]);
    expect(sorted((await c.get(`/storage/xxx_newer?newer=${(n1 - 1).toFixed(2)}`)).json())).toEqual(['128', '129']);

    // older is strict.
    r = await c.put('/storage/xxx_older/128', { id: '128', payload: 'x' });
    const o1 = ts(r.header('x-last-modified'));
    r = await c.put('/storage/xxx_older/129', { id: '129', payload: 'x' });
    const o2 = ts(r.header('x-last-modified'));
    expect(o1).toBeLessThan(o2);
    expect((await c.get(`/storage/xxx_older?older=${o1.toFixed(2)}`)).json()).toEqual([]);
    expect((await c.get(`/storage/xxx_older?older=${o2.toFixed(2)}`)).json()).toEqual(['128']);
    expect(sorted((await c.get(`/storage/xxx_older?older=${(o2 + 1).toFixed(2)}`)).json())).toEqual(['128', '129']);
    r = await c.get(`/storage/xxx_older?older=${(o2 + 1).toFixed(2)}&newer=${o1.toFixed(2)}`);
    expect(r.json()).toEqual(['129']);

    // full: objects with exactly id, modified, payload (no sortindex when none was set).
    r = await c.get('/storage/xxx_older?full=1');
    expect(r.status).toBe(200);
    const full = r.json() as Bso[];
    expect(full).toHaveLength(2);
    for (const b of full) expect(Object.keys(b).sort()).toEqual(['id', 'modified', 'payload']);
    expect(Object.fromEntries(full.map((b) => [b.id, b.modified]))).toEqual({ '128': o1, '129': o2 });
    expectModifiedHasTwoDecimals(r, 2);
    // Without full: a list of id strings.
    r = await c.get('/storage/xxx_older');
    expect(r.json().every((x: unknown) => typeof x === 'string')).toBe(true);

    // limit and offset paging, for every sort order and for no sort at all.
    const ten = Array.from({ length: 10 }, (_, i) => ({ id: String(i).padStart(2, '0'), payload: 'x', sortindex: i }));
    expect((await c.post('/storage/xxx_paged', ten)).status).toBe(200);
    for (const sort of ['index', 'newest', 'oldest', null]) {
      // The query string for this sort order plus extra parameters (no dangling '?').
      const url = (...extra: string[]) => {
        const params = [...(sort === null ? [] : [`sort=${sort}`]), ...extra];
        return params.length ? `/storage/xxx_paged?${params.join('&')}` : '/storage/xxx_paged';
      };
      r = await c.get(url());
      expect(r.status).toBe(200);
      const all = r.json() as string[];
      expect(sorted(all)).toEqual(ten.map((b) => b.id));
      expect(r.header('x-weave-records')).toBe('10');
      expect(r.header('x-weave-next-offset')).toBeNull();
      if (sort === 'index') expect(all).toEqual(['09', '08', '07', '06', '05', '04', '03', '02', '01', '00']);

      r = await c.get(url('limit=2'));
      expect(r.status).toBe(200);
      expect(r.json()).toEqual(all.slice(0, 2));
      expect(r.header('x-weave-records')).toBe('2');
      let next = r.header('x-weave-next-offset');
      expect(next).not.toBeNull();

      r = await c.get(url('limit=3', `offset=${encodeURIComponent(next!)}`));
      expect(r.json()).toEqual(all.slice(2, 5));
      next = r.header('x-weave-next-offset');
      expect(next).not.toBeNull();

      r = await c.get(url(`offset=${encodeURIComponent(next!)}`));
      expect(r.json()).toEqual(all.slice(5));
      expect(r.header('x-weave-next-offset')).toBeNull();
      expect(r.header('x-weave-records')).toBe('5');

      r = await c.get(url('limit=10000', `offset=${encodeURIComponent(next!)}`));
      expect(r.json()).toEqual(all.slice(5));
      expect(r.header('x-weave-next-offset')).toBeNull();

      // Full records page the same way.
      const allFull = (await c.get(url('full=1'))).json() as Bso[];
      expect(allFull.map((b) => b.id)).toEqual(all);
      expect(await pageThrough(c, url('full=1'), 3)).toEqual(allFull);
    }

    // sort orders with distinct timestamps and a negative sortindex.
    for (const [id, sortindex] of [['00', -1], ['01', 34], ['02', 12]] as const) {
      expect((await c.post('/storage/xxx_sorted', [{ id, payload: 'x', sortindex }])).status).toBe(200);
    }
    expect((await c.get('/storage/xxx_sorted?sort=newest')).json()).toEqual(['02', '01', '00']);
    expect((await c.get('/storage/xxx_sorted?sort=oldest')).json()).toEqual(['00', '01', '02']);
    expect((await c.get('/storage/xxx_sorted?sort=index')).json()).toEqual(['01', '02', '00']);
    r = await c.get('/storage/xxx_sorted?sort=index&full=1');
    expect((r.json() as Bso[]).map((b) => b.sortindex)).toEqual([34, 12, -1]);
  });

  it('test_alternative_formats: Accept selects JSON or application/newlines, unknown types get 406', async () => {
    const c = new StorageClient(server);
    expect((await c.post('/storage/xxx_col2', items(5))).status).toBe(200);
    const ids = ['00', '01', '02', '03', '04'];

    let r = await c.get('/storage/xxx_col2', { headers: { accept: 'application/json' } });
    expect(r.status).toBe(200);
    expect(r.header('content-type')!.split(';')[0]).toBe('application/json');
    expect(sorted(r.json())).toEqual(ids);

    r = await c.get('/storage/xxx_col2', { headers: { accept: 'application/newlines' } });
    expect(r.status).toBe(200);
    expect(r.header('content-type')!.split(';')[0]).toBe('application/newlines');
    expect(r.text.endsWith('\n')).toBe(true);
    const lines = r.text.slice(0, -1).split('\n');
    expect(sorted(lines.map((l) => JSON.parse(l)))).toEqual(ids);
    expect(r.header('x-weave-records')).toBe('5');

    // Full records as newlines: one BSO object per line.
    r = await c.get('/storage/xxx_col2?full=1', { headers: { accept: 'application/newlines' } });
    expect(r.status).toBe(200);
    const objs = r.text.slice(0, -1).split('\n').map((l) => JSON.parse(l) as Bso);
    expect(sorted(objs.map((b) => b.id))).toEqual(ids);
    expect(objs.every((b) => b.payload === 'xxx')).toBe(true);

    // No preference (*/*, what fetch sends by default) and Firefox's own header → JSON.
    r = await c.get('/storage/xxx_col2');
    expect(r.header('content-type')!.split(';')[0]).toBe('application/json');
    r = await c.get('/storage/xxx_col2', { headers: { accept: 'application/json;q=0.9,*/*;q=0.2' } });
    expect(r.status).toBe(200);
    expect(r.header('content-type')!.split(';')[0]).toBe('application/json');
    expect(sorted(r.json())).toEqual(ids);

    // Ranked by q-value.
    r = await c.get('/storage/xxx_col2', { headers: { accept: 'application/json;q=0.5, application/newlines' } });
    expect(r.status).toBe(200);
    expect(r.header('content-type')!.split(';')[0]).toBe('application/newlines');

    // Unknown format → 406 with a numeric body.
    r = await c.get('/storage/xxx_col2', { headers: { accept: 'x/yy' } });
    expect(r.status).toBe(406);
    expect(r.json()).toBe(0);
    // text/plain cannot be produced → 406.
    r = await c.get('/storage/xxx_col2', { headers: { accept: 'text/plain' } });
    expect(r.status).toBe(406);
  });

  it('test_set_collection_with_if_modified_since: 200 with an older X-If-Modified-Since, 304 with the newest', async () => {
    const c = new StorageClient(server);
    for (let i = 0; i < 5; i++) {
      expect((await c.post('/storage/xxx_col2', [{ id: String(i).padStart(2, '0'), payload: 'xxx' }])).status).toBe(200);
    }
    let r = await c.get('/storage/xxx_col2?full=true');
    const all = r.json() as Bso[];
    expect(all).toHaveLength(5);
    const stamps = all.map((b) => b.modified).sort((a, b) => a - b);
    expect(new Set(stamps).size).toBe(5);
    // The collection timestamp is the newest record's.
    expect(ts(r.header('x-last-modified'))).toBe(stamps[4]);

    r = await c.get('/storage/xxx_col2', { headers: { 'x-if-modified-since': stamps[0]!.toFixed(2) } });
    expect(r.status).toBe(200);
    expect(sorted(r.json())).toEqual(['00', '01', '02', '03', '04']);

    r = await c.get('/storage/xxx_col2', { headers: { 'x-if-modified-since': stamps[4]!.toFixed(2) } });
    expect(r.status).toBe(304);
    expect(r.text).toBe('');
    expect(r.header('x-last-modified')).toBe(stamps[4]!.toFixed(2));

    r = await c.get('/storage/xxx_col2', { headers: { 'x-if-modified-since': (stamps[4]! + 1).toFixed(2) } });
    expect(r.status).toBe(304);
  });

  it('test_get_item: item GET keys, 404 for a missing id, X-If-Modified-Since 304/200', async () => {
    const c = new StorageClient(server);
    expect((await c.post('/storage/xxx_col2', items(5))).status).toBe(200);

    let r = await c.get('/storage/xxx_col2/01');
    expect(r.status).toBe(200);
    expect(r.header('content-type')).toMatch(/^application\/json/);
    const bso = r.json() as Bso;
    expect(Object.keys(bso).sort()).toEqual(['id', 'modified', 'payload']);
    expect(bso.id).toBe('01');
    expect(bso.payload).toBe('xxx');
    expectModifiedHasTwoDecimals(r, 1);
    expect(ts(r.header('x-last-modified'))).toBe(bso.modified);

    r = await c.get('/storage/xxx_col2/99');
    expect(r.status).toBe(404);
    expect(r.json()).toBe(0);
    // Missing collection too.
    r = await c.get('/storage/xxx_nothere/01');
    expect(r.status).toBe(404);
    expect(r.json()).toBe(0);

    r = await c.get('/storage/xxx_col2/01', { headers: { 'x-if-modified-since': bso.modified.toFixed(2) } });
    expect(r.status).toBe(304);
    expect(r.text).toBe('');
    expect(ts(r.header('x-last-modified'))).toBe(bso.modified);
    r = await c.get('/storage/xxx_col2/01', { headers: { 'x-if-modified-since': (bso.modified + 1).toFixed(2) } });
    expect(r.status).toBe(304);
    r = await c.get('/storage/xxx_col2/01', { headers: { 'x-if-modified-since': (bso.modified - 1).toFixed(2) } });
    expect(r.status).toBe(200);
    expect(r.json().id).toBe('01');
  });

  it('test_get_collection_ttl: ttl 0 is gone at once, ttl 2 is visible then expires, re-PUT keeps one item', async () => {
    const c = new StorageClient(server);
    let r = await c.put('/storage/xxx_col2/12345', { payload: PLD, ttl: 0 });
    expect(r.status).toBe(200);
    await sleep(20);
    r = await c.get('/storage/xxx_col2');
    expect(r.status).toBe(200);
    expect(r.json()).toEqual([]);
    expect((await c.get('/storage/xxx_col2/12345')).status).toBe(404);

    r = await c.put('/storage/xxx_col2/123456', { payload: PLD, ttl: 2 });
    expect(r.status).toBe(200);
    r = await c.get('/storage/xxx_col2');
    expect(r.json()).toEqual(['123456']);

    // A second PUT of the same record still leaves one record.
    r = await c.put('/storage/xxx_col2/123456', { payload: PLD, ttl: 2 });
    expect(r.status).toBe(200);
    r = await c.get('/storage/xxx_col2');
    expect(r.json()).toEqual(['123456']);
    expect((await c.get('/info/collection_counts')).json()).toEqual({ xxx_col2: 1 });
    // ttl is never echoed.
    expect(Object.keys((await c.get('/storage/xxx_col2/123456')).json()).sort()).toEqual(['id', 'modified', 'payload']);

    await sleep(2100);
    r = await c.get('/storage/xxx_col2');
    expect(r.json()).toEqual([]);
    expect(r.header('x-weave-records')).toBe('0');
    expect((await c.get('/storage/xxx_col2/123456')).status).toBe(404);
    expect((await c.get('/info/collection_counts')).json()).toEqual({});
  });

  it('test_weird_args: malformed newer/older/limit/sort/offset → 400, unknown ids → [], unknown params ignored', async () => {
    const c = new StorageClient(server);
    expect((await c.post('/storage/xxx_col2', items(10, PLD))).status).toBe(200);

    for (const arg of ['newer', 'older', 'limit']) {
      const r = await c.get(`/storage/xxx_col2?${arg}=aBcDeFgHiJ`);
      expect(r.status, arg).toBe(400);
      expect(r.json(), arg).toBe(0);
    }
    for (const query of ['limit=1.5', 'sort=sideways', 'offset=not-an-offset']) {
      const r = await c.get(`/storage/xxx_col2?${query}`);
      expect(r.status, query).toBe(400);
      expect(r.json(), query).toBe(0);
    }

    // 100 valid but unknown ids.
    const ids = Array.from({ length: 100 }, (_, i) => `zz${String(i).padStart(3, '0')}Qwert`).join(',');
    let r = await c.get(`/storage/xxx_col2?ids=${ids}`);
    expect(r.status).toBe(200);
    expect(r.json()).toEqual([]);

    // Unknown parameters do not break anything.
    r = await c.get('/storage/xxx_col2?blabla=1');
    expect(r.status).toBe(200);
    expect(r.json()).toHaveLength(10);
  });

  it('test_timestamp_numbers_are_decimals: modified has two decimals and newer=<returned ts> gives later items', async () => {
    const c = new StorageClient(server);
    for (let i = 0; i < 5; i++) {
      expect((await c.post('/storage/xxx_col2', [{ id: String(i).padStart(2, '0'), payload: 'xxx' }])).status).toBe(200);
    }
    const r = await c.get('/storage/xxx_col2?full=1');
    expect(r.status).toBe(200);
    expectModifiedHasTwoDecimals(r, 5);
    // The raw text of each timestamp, as the server wrote it.
    const raw = [...r.text.matchAll(/"modified":\s*([0-9.]+)/g)].map((m) => m[1]!).sort((a, b) => Number(a) - Number(b));
    expect(new Set(raw).size).toBe(5);

    let newer = await c.get(`/storage/xxx_col2?newer=${raw[2]}`);
    expect(sorted(newer.json())).toEqual(['03', '04']);
    // The same value as a plain float string (trailing zero dropped) works as well.
    newer = await c.get(`/storage/xxx_col2?newer=${String(Number(raw[2]))}`);
    expect(sorted(newer.json())).toEqual(['03', '04']);
  });

  it('test_strict_newer: newer=ts excludes records stamped exactly ts', async () => {
    const c = new StorageClient(server);
    let r = await c.post('/storage/xxx_meh', [
      { id: '01', payload: PLD },
      { id: '02', payload: PLD },
    ]);
    const t = r.header('x-last-modified')!;
    r = await c.post('/storage/xxx_meh', [
      { id: '03', payload: PLD },
      { id: '04', payload: PLD },
    ]);
    expect(ts(r.header('x-last-modified'))).toBeGreaterThan(ts(t));
    r = await c.get(`/storage/xxx_meh?newer=${t}`);
    expect(r.status).toBe(200);
    expect(sorted(r.json())).toEqual(['03', '04']);
    expect(r.header('x-weave-records')).toBe('2');
  });

  it('test_strict_older: older=ts excludes records stamped exactly ts', async () => {
    const c = new StorageClient(server);
    let r = await c.post('/storage/xxx_meh', [
      { id: '01', payload: PLD },
      { id: '02', payload: PLD },
    ]);
    const first = ts(r.header('x-last-modified'));
    r = await c.post('/storage/xxx_meh', [
      { id: '03', payload: PLD },
      { id: '04', payload: PLD },
    ]);
    const t = r.header('x-last-modified')!;
    expect(ts(t)).toBeGreaterThan(first);
    r = await c.get(`/storage/xxx_meh?older=${t}`);
    expect(r.status).toBe(200);
    expect(sorted(r.json())).toEqual(['01', '02']);
    expect(r.header('x-weave-records')).toBe('2');
  });

  it('test_that_batch_gets_are_limited_to_max_number_of_ids: 99 and 100 ids work, 101 → 400', async () => {
    const c = new StorageClient(server);
    expect((await c.put('/storage/xxx_col2/01', { id: '01', payload: 'testing' })).status).toBe(200);
    const idList = (n: number) => Array.from({ length: n }, (_, i) => String(i).padStart(2, '0')).join(',');

    let r = await c.get(`/storage/xxx_col2?ids=${idList(99)}`);
    expect(r.status).toBe(200);
    expect(r.json()).toEqual(['01']);

    r = await c.get(`/storage/xxx_col2?ids=${idList(100)}`);
    expect(r.status).toBe(200);
    expect(r.json()).toEqual(['01']);

    r = await c.get(`/storage/xxx_col2?ids=${idList(101)}`);
    expect(r.status).toBe(400);
    expect(r.json()).toBe(0);
  });
});
