import { describe, expect, it, vi } from 'vitest';
import { StorageClient, ts, type Reply } from '../helpers/client.js';
import { testEngines, useServer } from '../helpers/server.js';

// Catalogue rows 45-58 and 61 (sync-storage.md 5.3): batch uploads, 2.11.

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function sortedById(items: any[]): any[] {
  return items.slice().sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

function batchOf(r: Reply): string {
  expect(r.status).toBe(202);
  const body = r.json();
  expect(typeof body.batch).toBe('string');
  // Firefox needs X-Last-Modified on a 202 to stay in batch mode (2.0).
  expect(r.header('x-last-modified')).toMatch(/^\d+\.\d\d$/);
  expect(body.batch.length).toBeGreaterThan(0);
  return body.batch;
}

const q = (batch: string) => encodeURIComponent(batch);

describe.each(await testEngines())('storage batches (%s)', (engine) => {
  const server = useServer(engine);

  it('test_batches: staged items are invisible until commit; commit applies all, commit items win, empty commit stamps commit time', async () => {
    const c = new StorageClient(server);
    const endpoint = '/storage/xxx_col2';
    let r = await c.post(endpoint, [
      { id: '12', payload: 'elegance' },
      { id: '13', payload: 'slovenly' },
    ]);
    expect(r.status).toBe(200);
    r = await c.get(`${endpoint}/12`);
    const origModified = r.header('x-last-modified')!;

    r = await c.post(`${endpoint}?batch=true`, [
      { id: 'a', payload: 'internal' },
      { id: 'b', payload: 'pancreas' },
    ]);
    let batch = batchOf(r);
    expect(r.json().success).toEqual(['a', 'b']);
    expect(r.json().failed).toEqual({});
    expect(r.json()).not.toHaveProperty('modified');
    expect(r.header('x-last-modified')).toBe(origModified);

    r = await c.get(endpoint);
    expect(r.json().sort()).toEqual(['12', '13']);
    expect(r.header('x-weave-records')).toBe('2');
    expect(r.header('x-last-modified')).toBe(origModified);
    r = await c.get('/info/collections');
    expect(r.json().xxx_col2).toBe(ts(origModified));

    r = await c.post(`${endpoint}?batch=${q(batch)}&commit=true`, [
      { id: 'c', payload: 'tinsel' },
      { id: '13', payload: 'portnoy' },
      { id: '14', payload: 'itsybitsy' },
    ]);
    expect(r.status).toBe(200);
    let committed: number = r.json().modified;
    expect(committed).toBe(ts(r.header('x-last-modified')));
    expect(committed).toBe(ts(r.header('x-weave-timestamp')));
    expect(committed).toBeGreaterThan(ts(origModified));
    expect(r.json()).not.toHaveProperty('batch');
    expect(r.json().success.sort()).toEqual(['13', '14', 'c']);
    expect(r.json().failed).toEqual({});

    r = await c.get('/info/collections');
    expect(ts(r.header('x-last-modified'))).toBe(committed);
    expect(r.json().xxx_col2).toBe(committed);

    r = await c.get(endpoint);
    expect(r.json().sort()).toEqual(['12', '13', '14', 'a', 'b', 'c']);
    expect(r.header('x-weave-records')).toBe('6');
    r = await c.get(`${endpoint}/13`);
    expect(r.json().payload).toBe('portnoy');
    expect(ts(r.header('x-last-modified'))).toBe(committed);
    expect(r.json().modified).toBe(committed);
    for (const [id, payload] of [
      ['a', 'internal'],
      ['b', 'pancreas'],
      ['c', 'tinsel'],
      ['14', 'itsybitsy'],
    ]) {
      r = await c.get(`${endpoint}/${id}`);
      expect(r.json(), id).toEqual({ id, modified: committed, payload });
    }
    r = await c.get(`${endpoint}/12`);
    expect(r.json().modified).toBe(ts(origModified));

    // Empty commit: everything staged gets the commit time, not the upload time.
    r = await c.post(`${endpoint}?batch=true`, [
      { id: 'a', payload: 'burrito' },
      { id: 'e', payload: 'chocolate' },
    ]);
    batch = batchOf(r);
    const stagedAt = ts(r.header('x-weave-timestamp'));
    await sleep(50);
    r = await c.post(`${endpoint}?batch=${q(batch)}&commit=true`, []);
    expect(r.status).toBe(200);
    committed = r.json().modified;
    expect(committed).toBe(ts(r.header('x-last-modified')));
    expect(committed).toBeGreaterThan(stagedAt);
    expect(r.json().success).toEqual([]);
    r = await c.get(`${endpoint}/a`);
    expect(ts(r.header('x-last-modified'))).toBe(committed);
    expect(r.json()).toEqual({ id: 'a', modified: committed, payload: 'burrito' });
    r = await c.get(`${endpoint}/e`);
    expect(r.json()).toEqual({ id: 'e', modified: committed, payload: 'chocolate' });
  });

  it('test_aaa_batch_commit_collision: an id staged and sent in the commit body takes the commit value', async () => {
    const c = new StorageClient(server);
    const endpoint = '/storage/xxx_col2';
    const orig = 'Letting the days go by';
    const repl = 'Same as it ever was';
    const batch = batchOf(await c.post(`${endpoint}?batch=true`, [{ id: 'b0', payload: orig, sortindex: 5 }]));
    const r = await c.post(`${endpoint}?batch=${q(batch)}&commit=true`, [{ id: 'b0', payload: repl }]);
    expect(r.status).toBe(200);
    expect(r.json().failed).toEqual({});
    expect(r.json().success).toEqual(['b0']);
    const got = (await c.get(`${endpoint}?full=1`)).json();
    expect(got).toHaveLength(1);
    expect(got[0].payload).toBe(repl);
    // Fields the commit item did not carry keep the staged value (2.11 merge rule).
    expect(got[0].sortindex).toBe(5);
  });

  it("test_we_dont_need_no_stinkin_batches: unknown batch id and commit without batch give 400", async () => {
    const c = new StorageClient(server);
    const endpoint = '/storage/xxx_col2';
    let r = await c.post(`${endpoint}?batch=sammich`, [{ id: 'f', payload: 'pantomime' }]);
    expect(r.status).toBe(400);
    expect(r.text).toBe('0');
    r = await c.post(`${endpoint}?commit=true`, []);
    expect(r.status).toBe(400);
    expect(r.text).toBe('0');
    r = await c.post(`${endpoint}?commit=true`, [{ id: 'g', payload: 'x' }]);
    expect(r.status).toBe(400);
    expect(r.text).toBe('0');
    // A well-formed but unknown id is rejected the same way.
    r = await c.post(`${endpoint}?batch=${'0'.repeat(8)}-0000-4000-8000-${'0'.repeat(12)}`, [{ id: 'h', payload: 'x' }]);
    expect(r.status).toBe(400);
    expect(r.text).toBe('0');
    r = await c.post(`${endpoint}?batch=${'0'.repeat(8)}-0000-4000-8000-${'0'.repeat(12)}&commit=true`, []);
    expect(r.status).toBe(400);
    expect(r.text).toBe('0');
    // commit must be "true" (any case) when present.
    const batch = batchOf(await c.post(`${endpoint}?batch=true`, [{ id: 'i', payload: 'x' }]));
    for (const value of ['false', '1', 'yes', '']) {
      r = await c.post(`${endpoint}?batch=${q(batch)}&commit=${value}`, []);
      expect(r.status, `commit=${value}`).toBe(400);
      expect(r.text).toBe('0');
    }
    r = await c.get(endpoint);
    expect(r.json()).toEqual([]);
    r = await c.get('/info/collections');
    expect(r.json()).toEqual({});
    r = await c.post(`${endpoint}?batch=${q(batch)}&commit=TRUE`, []);
    expect(r.status).toBe(200);
    expect((await c.get(endpoint)).json()).toEqual(['i']);
  });

  it('test_batch_size_limits: configuration keys, per-item retry bytes, X-Weave-Total-Bytes inclusive limit', async () => {
    const c = new StorageClient(server);
    let r = await c.get('/info/configuration');
    expect(r.status).toBe(200);
    const limits = r.json();
    for (const key of ['max_post_records', 'max_post_bytes', 'max_total_records', 'max_total_bytes', 'max_record_payload_bytes', 'max_request_bytes']) {
      expect(limits, key).toHaveProperty(key);
      expect(Number.isInteger(limits[key]), key).toBe(true);
    }
    const endpoint = '/storage/xxx_col2?batch=true';
    const bsos = [
      { id: 'little', payload: 'XXX' },
      { id: 'big', payload: 'X'.repeat(limits.max_post_bytes - 3) },
    ];
    expect(JSON.stringify(bsos).length).toBeLessThan(limits.max_request_bytes);
    r = await c.post(endpoint, bsos);
    expect(r.status).toBe(202);
    expect(r.json().failed).toEqual({});
    expect(r.json().success).toEqual(['little', 'big']);

    bsos[1]!.payload += 'X';
    r = await c.post(endpoint, bsos);
    expect(r.status).toBe(202);
    expect(r.json().success).toEqual(['little']);
    expect(r.json().failed).toEqual({ big: 'retry bytes' });

    r = await c.post(endpoint, [], { headers: { 'x-weave-total-bytes': String(limits.max_total_bytes) } });
    expect(r.status).toBe(202);
    r = await c.post(endpoint, [], { headers: { 'x-weave-total-bytes': String(limits.max_total_bytes + 1) } });
    expect(r.status).toBe(400);
    expect(r.json()).toBe(17);
    r = await c.post(endpoint, [], { headers: { 'x-weave-total-records': String(limits.max_total_records) } });
    expect(r.status).toBe(202);
    r = await c.post(endpoint, [], { headers: { 'x-weave-total-records': String(limits.max_total_records + 1) } });
    expect(r.status).toBe(400);
    expect(r.json()).toBe(17);

    // Nothing was committed.
    r = await c.get('/storage/xxx_col2');
    expect(r.json()).toEqual([]);
  });

  it('test_batch_partial_update: staged partial updates invisible until commit; commit stamps only touched items', async () => {
    const c = new StorageClient(server);
    const coll = '/storage/xxx_col2';
    let r = await c.post(coll, [
      { id: 'a', payload: 'aai' },
      { id: 'b', payload: 'bee', sortindex: 17 },
    ]);
    const origTs = ts(r.header('x-last-modified'));

    r = await c.post(`${coll}?batch=true`, [
      { id: 'b', payload: 'bii' },
      { id: 'c', payload: 'sea' },
    ]);
    const batch = batchOf(r);
    expect(ts(r.header('x-last-modified'))).toBe(origTs);

    r = await c.get(`${coll}?full=1`);
    expect(sortedById(r.json())).toEqual([
      { id: 'a', modified: origTs, payload: 'aai' },
      { id: 'b', modified: origTs, payload: 'bee', sortindex: 17 },
    ]);

    r = await c.post(`${coll}?batch=${q(batch)}&commit=true`, []);
    expect(r.status).toBe(200);
    const commitTs = ts(r.header('x-last-modified'));
    expect(commitTs).toBeGreaterThan(origTs);

    r = await c.get(`${coll}?full=1`);
    expect(sortedById(r.json())).toEqual([
      { id: 'a', modified: origTs, payload: 'aai' },
      { id: 'b', modified: commitTs, payload: 'bii', sortindex: 17 },
      { id: 'c', modified: commitTs, payload: 'sea' },
    ]);
  });

  it('test_batch_ttl_update: ttl-only items across appends keep payloads and take effect after commit', async () => {
    const c = new StorageClient(server);
    const coll = '/storage/xxx_col2';
    let r = await c.post(coll, [
      { id: 'a', payload: 'ayy' },
      { id: 'b', payload: 'bea' },
      { id: 'c', payload: 'see' },
    ]);
    expect(r.status).toBe(200);

    r = await c.post(`${coll}?batch=true`, []);
    const batch = batchOf(r);
    const origTs = r.header('x-last-modified');
    const endpoint = `${coll}?batch=${q(batch)}`;
    r = await c.post(endpoint, [{ id: 'a', ttl: 1 }]);
    expect(r.status).toBe(202);
    expect(r.json().batch).toBe(batch);
    expect(r.header('x-last-modified')).toBe(origTs);
    r = await c.post(endpoint, [{ id: 'b', ttl: 1 }]);
    expect(r.status).toBe(202);
    expect(r.header('x-last-modified')).toBe(origTs);
    r = await c.post(`${endpoint}&commit=true`, []);
    expect(r.status).toBe(200);
    const committed = ts(r.header('x-last-modified'));

    r = await c.get(`${coll}?full=1`);
    expect(sortedById(r.json()).map((b) => b.payload)).toEqual(['ayy', 'bea', 'see']);

    await sleep(committed * 1000 + 1150 - Date.now());
    r = await c.get(`${coll}?full=1`);
    expect(r.json().map((b: any) => b.payload)).toEqual(['see']);
  });

  it('test_batch_ttl_is_based_on_commit_timestamp: ttl counts from the commit, not the upload', async () => {
    const c = new StorageClient(server);
    const coll = '/storage/xxx_col2';
    let r = await c.post(`${coll}?batch=true`, []);
    const batch = batchOf(r);
    r = await c.post(`${coll}?batch=${q(batch)}`, [{ id: 'a', ttl: 1 }]);
    expect(r.status).toBe(202);
    const uploadedAt = Date.now();

    // Commit after the ttl would have run out had it been counted from the upload.
    await sleep(1100);
    r = await c.post(`${coll}?batch=${q(batch)}&commit=true`, []);
    expect(r.status).toBe(200);
    const committed = ts(r.header('x-last-modified'));
    expect(committed * 1000).toBeGreaterThan(uploadedAt + 1000);

    r = await c.get(coll);
    expect(r.json()).toEqual(['a']);

    await sleep(committed * 1000 + 1150 - Date.now());
    r = await c.get(coll);
    expect(r.json()).toEqual([]);
  });

  it('test_batch_with_immediate_commit: batch=true&commit=true is a plain POST', async () => {
    const c = new StorageClient(server);
    const coll = '/storage/xxx_col2';
    let r = await c.post(`${coll}?batch=true&commit=true`, [
      { id: 'a', payload: 'aih' },
      { id: 'b', payload: 'bie' },
      { id: 'c', payload: 'cee' },
    ]);
    expect(r.status).toBe(200);
    expect(r.json()).not.toHaveProperty('batch');
    const committed: number = r.json().modified;
    expect(committed).toBe(ts(r.header('x-last-modified')));
    expect(r.json().success).toEqual(['a', 'b', 'c']);
    expect(r.json().failed).toEqual({});

    r = await c.get('/info/collections');
    expect(ts(r.header('x-last-modified'))).toBe(committed);
    expect(r.json().xxx_col2).toBe(committed);

    r = await c.get(`${coll}?full=1`);
    expect(ts(r.header('x-last-modified'))).toBe(committed);
    expect(sortedById(r.json())).toEqual([
      { id: 'a', modified: committed, payload: 'aih' },
      { id: 'b', modified: committed, payload: 'bie' },
      { id: 'c', modified: committed, payload: 'cee' },
    ]);
  });

  it('test_batch_uploads_properly_update_info_collections: immediate commits bump collection and storage timestamps', async () => {
    const c = new StorageClient(server);
    const bsos = [
      { id: 'a', payload: 'aih' },
      { id: 'b', payload: 'bie' },
      { id: 'c', payload: 'cee' },
    ];
    let r = await c.post('/storage/xxx_col1', bsos);
    let ts1: number = r.json().modified;
    r = await c.post('/storage/xxx_col2', bsos);
    let ts2: number = r.json().modified;
    expect(ts2).toBeGreaterThan(ts1);

    r = await c.get('/info/collections');
    expect(ts(r.header('x-last-modified'))).toBe(ts2);
    expect(r.json()).toEqual({ xxx_col1: ts1, xxx_col2: ts2 });

    r = await c.post('/storage/xxx_col2?batch=true&commit=true', bsos.slice(0, 2));
    expect(r.status).toBe(200);
    expect(r.json().modified).toBeGreaterThan(ts2);
    ts2 = r.json().modified;
    r = await c.get('/info/collections');
    expect(ts(r.header('x-last-modified'))).toBe(ts2);
    expect(r.json()).toEqual({ xxx_col1: ts1, xxx_col2: ts2 });

    r = await c.post('/storage/xxx_col1?batch=true&commit=true', [{ id: 'd', payload: 'dee' }]);
    expect(r.status).toBe(200);
    expect(r.json().modified).toBeGreaterThan(ts1);
    expect(r.json().modified).toBeGreaterThanOrEqual(ts2);
    ts1 = r.json().modified;
    r = await c.get('/info/collections');
    expect(ts(r.header('x-last-modified'))).toBe(ts1);
    expect(r.json()).toEqual({ xxx_col1: ts1, xxx_col2: ts2 });
  });

  it('test_batch_with_failing_bsos: invalid items during append and commit are reported and skipped', async () => {
    const c = new StorageClient(server);
    const coll = '/storage/xxx_col2';
    let r = await c.post(`${coll}?batch=true`, [
      { id: 'a', payload: 'aai' },
      { id: 'b\n', payload: 'i am invalid', sortindex: 17 },
    ]);
    const batch = batchOf(r);
    expect(r.json().success).toEqual(['a']);
    expect(Object.keys(r.json().failed)).toEqual(['b\n']);

    r = await c.post(`${coll}?batch=${q(batch)}&commit=true`, [
      { id: 'c', payload: 'sea' },
      { id: 'd', payload: 'dii', ttl: -12 },
    ]);
    expect(r.status).toBe(200);
    expect(r.json().success).toEqual(['c']);
    expect(Object.keys(r.json().failed)).toEqual(['d']);

    r = await c.get(`${coll}?full=1`);
    expect(sortedById(r.json()).map((b) => [b.id, b.payload])).toEqual([
      ['a', 'aai'],
      ['c', 'sea'],
    ]);
  });

  it('test_batch_id_is_correctly_scoped_to_a_collection: a batch id is unusable from another collection', async () => {
    const c = new StorageClient(server);
    const coll1 = '/storage/xxx_col1';
    let r = await c.post(`${coll1}?batch=true`, [
      { id: 'a', payload: 'aih' },
      { id: 'b', payload: 'bie' },
      { id: 'c', payload: 'cee' },
    ]);
    const batch = batchOf(r);

    const endpoint2 = `/storage/xxx_col2?batch=${q(batch)}`;
    r = await c.post(endpoint2, [{ id: 'd', payload: 'dii' }]);
    expect(r.status).toBe(400);
    expect(r.text).toBe('0');
    r = await c.post(`${endpoint2}&commit=true`, []);
    expect(r.status).toBe(400);
    expect(r.text).toBe('0');
    r = await c.get('/storage/xxx_col2');
    expect(r.json()).toEqual([]);

    const endpoint1 = `${coll1}?batch=${q(batch)}`;
    r = await c.post(endpoint1, [{ id: 'd', payload: 'dii' }]);
    expect(r.status).toBe(202);
    r = await c.post(`${endpoint1}&commit=true`, []);
    expect(r.status).toBe(200);

    r = await c.get(`${coll1}?full=1`);
    expect(sortedById(r.json()).map((b) => b.payload)).toEqual(['aih', 'bie', 'cee', 'dii']);
    r = await c.get('/info/collections');
    expect(Object.keys(r.json())).toEqual(['xxx_col1']);
  });

  it('test_users_with_the_same_batch_id_get_separate_data: batches are per user, and one user cannot reach another\'s', async () => {
    // Batch ids are random UUIDs here, so a collision cannot be produced; check the scoping
    // that makes collisions harmless (2.11): per-user ids, and a foreign id is "not found".
    const c1 = new StorageClient(server);
    let c2 = new StorageClient(server);
    while (c2.uid === c1.uid) c2 = new StorageClient(server);
    let r = await c1.post('/storage/xxx_col1?batch=true', [{ id: 'a', payload: 'aih' }]);
    const batch1 = batchOf(r);
    r = await c2.post('/storage/xxx_col1?batch=true', [{ id: 'b', payload: 'bee' }]);
    const batch2 = batchOf(r);
    expect(batch2).not.toBe(batch1);

    // The second user tries the first user's id, then commits their own.
    r = await c2.post(`/storage/xxx_col1?batch=${q(batch1)}`, [{ id: 'x', payload: 'intruder' }]);
    expect(r.status).toBe(400);
    expect(r.text).toBe('0');
    r = await c2.post(`/storage/xxx_col1?batch=${q(batch1)}&commit=true`, []);
    expect(r.status).toBe(400);
    expect(r.text).toBe('0');
    r = await c2.post(`/storage/xxx_col1?batch=${q(batch2)}&commit=true`, []);
    expect(r.status).toBe(200);
    expect((await c2.get('/storage/xxx_col1')).json()).toEqual(['b']);

    // The first user's collection is untouched until they commit, then holds only their item.
    expect((await c1.get('/storage/xxx_col1')).json()).toEqual([]);
    r = await c1.post(`/storage/xxx_col1?batch=${q(batch1)}&commit=true`, []);
    expect(r.status).toBe(200);
    expect((await c1.get('/storage/xxx_col1')).json()).toEqual(['a']);
    expect((await c2.get('/storage/xxx_col1')).json()).toEqual(['b']);
  });

  it('test_that_we_dont_resurrect_committed_batches: a committed batch id is gone; new batches start empty', async () => {
    // No id reuse can be forced with UUIDs; assert directly that a committed id is dead (2.11).
    const c = new StorageClient(server);
    let r = await c.post('/storage/xxx_col1?batch=true', [{ id: 'i', payload: 'aye' }]);
    const batch1 = batchOf(r);
    r = await c.post(`/storage/xxx_col1?batch=${q(batch1)}&commit=true`, []);
    expect(r.status).toBe(200);
    const committed = ts(r.header('x-last-modified'));

    for (const path of [`/storage/xxx_col1?batch=${q(batch1)}`, `/storage/xxx_col2?batch=${q(batch1)}`]) {
      r = await c.post(path, [{ id: 'k', payload: 'kay' }]);
      expect(r.status, path).toBe(400);
      expect(r.text, path).toBe('0');
      r = await c.post(`${path}&commit=true`, []);
      expect(r.status, path).toBe(400);
      expect(r.text, path).toBe('0');
    }

    r = await c.post('/storage/xxx_col2?batch=true', []);
    const batch2 = batchOf(r);
    expect(batch2).not.toBe(batch1);
    r = await c.post(`/storage/xxx_col2?batch=${q(batch2)}&commit=true`, [{ id: 'j', payload: 'jay' }]);
    expect(r.status).toBe(200);
    expect((await c.get('/storage/xxx_col2')).json()).toEqual(['j']);
    r = await c.get('/storage/xxx_col1?full=1');
    expect(r.json()).toEqual([{ id: 'i', modified: committed, payload: 'aye' }]);
  });

  it('test_batch_id_is_correctly_scoped_to_a_user: another user cannot append to or commit a batch', async () => {
    const c = new StorageClient(server);
    let other = new StorageClient(server);
    while (other.uid === c.uid) other = new StorageClient(server);
    const coll = '/storage/xxx_col1';
    let r = await c.post(`${coll}?batch=true`, [
      { id: 'a', payload: 'aih' },
      { id: 'b', payload: 'bie' },
      { id: 'c', payload: 'cee' },
    ]);
    const batch = batchOf(r);

    r = await other.post(`${coll}?batch=${q(batch)}`, [{ id: 'd', payload: 'di' }]);
    expect(r.status).toBe(400);
    expect(r.text).toBe('0');
    r = await other.post(`${coll}?batch=${q(batch)}&commit=true`, []);
    expect(r.status).toBe(400);
    expect(r.text).toBe('0');
    expect((await other.get(coll)).json()).toEqual([]);
    expect((await other.get('/info/collections')).json()).toEqual({});

    r = await c.post(`${coll}?batch=${q(batch)}`, [{ id: 'd', payload: 'di' }]);
    expect(r.status).toBe(202);
    r = await c.post(`${coll}?batch=${q(batch)}&commit=true`, []);
    expect(r.status).toBe(200);
    r = await c.get(`${coll}?full=1`);
    expect(sortedById(r.json()).map((b) => b.payload)).toEqual(['aih', 'bie', 'cee', 'di']);
  });

  it('batch lifetime: a batch id older than 2 hours gives 400 body 0 and its items are never applied', async () => {
    // The server runs in this process: move its clock (Date only) past BATCH_LIFETIME (2.11).
    const c = new StorageClient(server);
    const coll = '/storage/xxx_col1';
    const batch = batchOf(await c.post(`${coll}?batch=true`, [{ id: 'a', payload: 'staged' }]));
    expect((await c.post(`${coll}?batch=${q(batch)}`, [{ id: 'b', payload: 'staged' }])).status).toBe(202);
    vi.useFakeTimers({ toFake: ['Date'] });
    try {
      vi.setSystemTime(Date.now() + 2 * 3600_000 + 60_000);
      const later = new StorageClient(server, c.uid); // a fresh token, valid at the new time
      let r = await later.post(`${coll}?batch=${q(batch)}`, [{ id: 'c', payload: 'late' }]);
      expect(r.status).toBe(400);
      expect(r.text).toBe('0');
      r = await later.post(`${coll}?batch=${q(batch)}&commit=true`, [{ id: 'd', payload: 'late' }]);
      expect(r.status).toBe(400);
      expect(r.text).toBe('0');
      expect((await later.get(coll)).json()).toEqual([]);
      expect((await later.get('/info/collections')).json()).toEqual({});
    } finally {
      vi.useRealTimers();
    }
  });

  it('test_batch_empty_commit: JSON [] and newlines "" commit; {}, "", "\\n" and bad newline bodies give 400', async () => {
    const c = new StorageClient(server);
    const ids = ['00', '01', '02', '03', '04'];
    const tryCommit = async (contentType: string, body: string): Promise<Reply> => {
      const r = await c.post('/storage/xxx_col?batch=true', ids.map((id) => ({ id, payload: 'X' })));
      const batch = batchOf(r);
      expect(r.json().success).toHaveLength(5);
      expect(r.json().failed).toEqual({});
      return c.post(`/storage/xxx_col?commit=true&batch=${q(batch)}`, body, { contentType });
    };

    for (const [type, body] of [
      ['application/json', '[]'],
      ['application/newlines', ''],
    ] as const) {
      const r = await tryCommit(type, body);
      expect(r.status, `${type} ${JSON.stringify(body)}`).toBe(200);
      expect(r.json().success).toEqual([]);
      expect(r.json().failed).toEqual({});
      expect((await c.get('/storage/xxx_col')).json().sort()).toEqual(ids);
    }
    await c.delete('/storage/xxx_col');

    const bad: [string, string, number[]][] = [
      ['application/json', '{}', [8]],
      ['application/json', '', [6]],
      ['application/newlines', '\n', [6, 8]],
      ['application/newlines', '{}', [8]],
      ['application/newlines', '[]', [8]],
    ];
    for (const [type, body, codes] of bad) {
      const r = await tryCommit(type, body);
      const what = `${type} ${JSON.stringify(body)}`;
      expect(r.status, what).toBe(400);
      expect(codes, what).toContain(r.json());
      expect((await c.get('/storage/xxx_col')).json(), what).toEqual([]);
    }
  });
});
