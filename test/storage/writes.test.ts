import { describe, expect, it } from 'vitest';
import { StorageClient, ts, type Reply } from '../helpers/client.js';
import { testEngines, useServer } from '../helpers/server.js';

// sync-storage.md §5.3 rows 8, 9, 10, 11, 12, 18, 20, 22, 29 and 30: PUT and (non-batch) POST,
// input formats, X-If-Unmodified-Since, POST limits and BSO validation. Behaviour asserted
// from §2.4, §2.5, §2.7, §2.8, §2.10, §2.14 and the §6 recommendations.

const TWO_DECIMALS = /^[0-9]+\.[0-9]{2}$/;
const PLD = '*'.repeat(500);

// Error codes (§2.14).
const WEAVE_JSON_PARSE = 6;
const WEAVE_INVALID_WBO = 8;

interface PostResult {
  modified: number;
  success: string[];
  failed: Record<string, string>;
}

/** A successful non-batch POST: 200, {modified, success, failed}, X-Last-Modified = modified. */
function expectPostOk(r: Reply): PostResult {
  expect(r.status).toBe(200);
  const body = r.json() as PostResult;
  expect(Object.keys(body).sort()).toEqual(['failed', 'modified', 'success']);
  expect(r.text).toMatch(/"modified":\s*[0-9]+\.[0-9]{2}[,}]/);
  expect(r.header('x-last-modified')).toMatch(TWO_DECIMALS);
  expect(ts(r.header('x-last-modified'))).toBe(body.modified);
  expect(ts(r.header('x-weave-timestamp'))).toBe(body.modified);
  return body;
}

/** A successful PUT: 200, body is the bare new timestamp, equal to both timestamp headers. */
function expectPutOk(r: Reply): number {
  expect(r.status).toBe(200);
  expect(r.text).toMatch(TWO_DECIMALS);
  expect(r.header('x-last-modified')).toBe(r.text);
  expect(r.header('x-weave-timestamp')).toBe(r.text);
  return Number(r.text);
}

function expectError(r: Reply, status: number, code: number): void {
  expect(r.status).toBe(status);
  expect(r.header('content-type')).toMatch(/^application\/json/);
  expect(r.json()).toBe(code);
}

const newlines = (records: object[]) => records.map((b) => JSON.stringify(b)).join('\n');

describe.each(await testEngines())('storage writes (%s)', (engine) => {
  const server = useServer(engine);

  it('test_set_item: PUT creates a record, then overwrites its payload', async () => {
    const c = new StorageClient(server);
    const t1 = expectPutOk(await c.put('/storage/xxx_col2/12345', { payload: PLD }));
    let r = await c.get('/storage/xxx_col2/12345');
    expect(r.status).toBe(200);
    expect(r.json()).toEqual({ id: '12345', modified: t1, payload: PLD });

    const t2 = expectPutOk(await c.put('/storage/xxx_col2/12345', { payload: 'YYY' }));
    expect(t2).toBeGreaterThan(t1);
    r = await c.get('/storage/xxx_col2/12345');
    expect(r.json()).toEqual({ id: '12345', modified: t2, payload: 'YYY' });
    // The collection timestamp follows the PUT.
    expect((await c.get('/info/collections')).json()).toEqual({ xxx_col2: t2 });
    // The URL id wins; a matching body id is fine; a sortindex is kept and echoed.
    const t3 = expectPutOk(await c.put('/storage/xxx_col2/12345', { id: '12345', payload: 'ZZZ', sortindex: 7 }));
    expect((await c.get('/storage/xxx_col2/12345')).json()).toEqual({ id: '12345', modified: t3, payload: 'ZZZ', sortindex: 7 });
  });

  it('test_set_collection: POST creates and updates records; one with a non-integer sortindex is not stored', async () => {
    const c = new StorageClient(server);
    let res = expectPostOk(
      await c.post('/storage/xxx_col2', [
        { id: '12', payload: PLD },
        { id: '13', payload: PLD },
      ]),
    );
    expect(res.success).toEqual(['12', '13']);
    expect(res.failed).toEqual({});
    const t1 = res.modified;
    expect((await c.get('/storage/xxx_col2/12')).json()).toEqual({ id: '12', modified: t1, payload: PLD });
    expect((await c.get('/storage/xxx_col2/13')).json()).toEqual({ id: '13', modified: t1, payload: PLD });

    res = expectPostOk(
      await c.post('/storage/xxx_col2', [
        { id: '13', payload: 'XyX' },
        { id: '14', payload: PLD },
      ]),
    );
    expect(res.success).toEqual(['13', '14']);
    const t2 = res.modified;
    expect(t2).toBeGreaterThan(t1);
    expect((await c.get('/storage/xxx_col2/14')).json()).toEqual({ id: '14', modified: t2, payload: PLD });
    expect((await c.get('/storage/xxx_col2/13')).json()).toEqual({ id: '13', modified: t2, payload: 'XyX' });
    // Untouched record keeps its timestamp.
    expect((await c.get('/storage/xxx_col2/12')).json().modified).toBe(t1);

    res = expectPostOk(
      await c.post('/storage/xxx_col2', [
        { id: 'one', payload: PLD },
        { id: 'two', payload: PLD, sortindex: 'FAIL' },
      ]),
    );
    expect(res.success).toEqual(['one']);
    expect(Object.keys(res.failed)).toEqual(['two']);
    expect(typeof res.failed.two).toBe('string');
    expect((await c.get('/storage/xxx_col2/one')).status).toBe(200);
    const missing = await c.get('/storage/xxx_col2/two');
    expect(missing.status).toBe(404);
    expect(missing.json()).toBe(0);
  });

  it('test_set_collection_input_formats: POST accepts application/newlines; octet-stream → 415, nothing written', async () => {
    const c = new StorageClient(server);
    const bsos = [
      { id: '12', payload: PLD },
      { id: '13', payload: PLD },
    ];
    let res = expectPostOk(await c.post('/storage/xxx_col2', newlines(bsos), { contentType: 'application/newlines' }));
    expect(res.success).toEqual(['12', '13']);
    expect(res.failed).toEqual({});
    expect(((await c.get('/storage/xxx_col2')).json() as string[]).sort()).toEqual(['12', '13']);

    // A trailing newline is tolerated.
    res = expectPostOk(await c.post('/storage/xxx_col4', `${newlines(bsos)}\n`, { contentType: 'application/newlines' }));
    expect(res.success).toEqual(['12', '13']);

    // Content-Type parameters are ignored.
    res = expectPostOk(await c.post('/storage/xxx_col5', JSON.stringify(bsos), { contentType: 'application/json; charset=utf-8' }));
    expect(res.success).toEqual(['12', '13']);

    const r = await c.post('/storage/xxx_col3', JSON.stringify(bsos), { contentType: 'application/octet-stream' });
    expectError(r, 415, 0);
    expect((await c.get('/storage/xxx_col3')).json()).toEqual([]);
    expect(Object.keys((await c.get('/info/collections')).json()).sort()).toEqual(['xxx_col2', 'xxx_col4', 'xxx_col5']);
  });

  it('test_set_item_input_formats: PUT accepts JSON and text/plain, octet-stream → 415', async () => {
    const c = new StorageClient(server);
    const body = JSON.stringify({ payload: PLD });
    expectPutOk(await c.put('/storage/xxx_col2/TEST', body, { contentType: 'application/json' }));
    expect((await c.get('/storage/xxx_col2/TEST')).json().payload).toBe(PLD);

    let r = await c.put('/storage/xxx_col2/OTHER', body, { contentType: 'application/octet-stream' });
    expectError(r, 415, 0);
    r = await c.get('/storage/xxx_col2/OTHER');
    expect(r.status).toBe(404);

    // text/plain is the legacy type Firefox sends; it is parsed as JSON.
    expectPutOk(await c.put('/storage/xxx_col2/OTHER', body, { contentType: 'text/plain' }));
    r = await c.get('/storage/xxx_col2/OTHER');
    expect(r.status).toBe(200);
    expect(r.json().payload).toBe(PLD);
  });

  it('test_app_newlines_when_payloads_contain_newlines: payloads with \\n survive newline input and output', async () => {
    const c = new StorageClient(server);
    const bsos = [
      { id: '01', payload: 'hello\nworld' },
      { id: '02', payload: '\nmarco\npolo\n' },
    ];
    const body = newlines(bsos);
    expect(body.split('\n')).toHaveLength(2);
    const res = expectPostOk(await c.post('/storage/xxx_col2', body, { contentType: 'application/newlines' }));
    expect(res.success).toEqual(['01', '02']);

    let r = await c.get('/storage/xxx_col2?full=1');
    const asJson = (r.json() as { id: string; payload: string }[]).sort((a, b) => a.id.localeCompare(b.id));
    expect(asJson.map((b) => b.payload)).toEqual(bsos.map((b) => b.payload));

    r = await c.get('/storage/xxx_col2?full=1', { headers: { accept: 'application/newlines' } });
    expect(r.status).toBe(200);
    expect(r.header('content-type')!.split(';')[0]).toBe('application/newlines');
    // Exactly one line per record: newlines inside payloads are escaped.
    expect(r.text.endsWith('\n')).toBe(true);
    const lines = r.text.slice(0, -1).split('\n');
    expect(lines).toHaveLength(2);
    const asLines = lines.map((l) => JSON.parse(l) as { id: string; payload: string }).sort((a, b) => a.id.localeCompare(b.id));
    expect(asLines.map((b) => b.payload)).toEqual(bsos.map((b) => b.payload));
  });

  it('test_ifunmodifiedsince: older X-If-Unmodified-Since → 412 for every method, equal or 0-for-new succeeds', async () => {
    const c = new StorageClient(server);
    const base = expectPutOk(await c.put('/storage/xxx_col2/12345', { id: '12345', payload: PLD }));
    const stale = { 'x-if-unmodified-since': (base - 1).toFixed(2) };
    const changed = { id: '12345', payload: `${PLD}XXX` };

    const expect412 = (r: Reply, lastModified: number) => {
      expect(r.status).toBe(412);
      expect(r.header('x-last-modified')).toMatch(TWO_DECIMALS);
      expect(ts(r.header('x-last-modified'))).toBe(lastModified);
    };
    expect412(await c.put('/storage/xxx_col2/12345', changed, { headers: stale }), base);
    expect412(await c.delete('/storage/xxx_col2/12345', { headers: stale }), base);
    expect412(await c.post('/storage/xxx_col2', [changed], { headers: stale }), base);
    expect412(await c.delete('/storage/xxx_col2?ids=12345', { headers: stale }), base);
    expect412(await c.get('/storage/xxx_col2/12345', { headers: stale }), base);
    expect412(await c.get('/storage/xxx_col2', { headers: stale }), base);

    // A change to another record of the collection also makes a collection-level delete fail.
    const other = expectPutOk(await c.put('/storage/xxx_col2/54321', { payload: PLD }));
    expect412(await c.delete('/storage/xxx_col2?ids=12345', { headers: { 'x-if-unmodified-since': base.toFixed(2) } }), other);
    expect412(await c.post('/storage/xxx_col2', [changed], { headers: { 'x-if-unmodified-since': base.toFixed(2) } }), other);

    // None of that touched the record.
    let r = await c.get('/storage/xxx_col2/12345');
    expect(r.json()).toEqual({ id: '12345', modified: base, payload: PLD });
    expect(ts(r.header('x-last-modified'))).toBe(base);

    // X-If-Unmodified-Since equal to the current timestamp succeeds.
    const posted = expectPostOk(await c.post('/storage/xxx_col2', [changed], { headers: { 'x-if-unmodified-since': other.toFixed(2) } }));
    expect(posted.success).toEqual(['12345']);
    const t = { 'x-if-unmodified-since': posted.modified.toFixed(2) };
    r = await c.get('/storage/xxx_col2/12345', { headers: t });
    expect(r.status).toBe(200);
    expect(r.json().payload).toBe(changed.payload);
    r = await c.delete('/storage/xxx_col2/12345', { headers: t });
    expect(r.status).toBe(200);

    // 0 means "only if it does not exist yet".
    const recreated = expectPutOk(await c.put('/storage/xxx_col2/12345', changed, { headers: { 'x-if-unmodified-since': '0' } }));
    r = await c.put('/storage/xxx_col2/12345', changed, { headers: { 'x-if-unmodified-since': '0' } });
    expect412(r, recreated);
    r = await c.get('/storage/xxx_col2', { headers: { 'x-if-unmodified-since': recreated.toFixed(2) } });
    expect(r.status).toBe(200);
    r = await c.delete('/storage/xxx_col2?ids=12345', { headers: { 'x-if-unmodified-since': recreated.toFixed(2) } });
    expect(r.status).toBe(200);
    expect((await c.get('/storage/xxx_col2')).json()).toEqual(['54321']);
  });

  it('test_offloaded_payload_round_trip: a 2 KB payload round-trips and no extra fields are exposed', async () => {
    const c = new StorageClient(server);
    const payload = Array.from({ length: 2048 }, (_, i) => 'abcdefghijklmnopqrstuvwxyz0123456789'[i % 36]).join('');
    const t1 = expectPutOk(await c.put('/storage/xxx_col2/big', { payload }));
    let r = await c.get('/storage/xxx_col2/big');
    expect(r.status).toBe(200);
    expect(r.json()).toEqual({ id: 'big', modified: t1, payload });

    const res = expectPostOk(await c.post('/storage/xxx_col2', [{ id: 'big2', payload, sortindex: 5, ttl: 3600 }]));
    expect(res.success).toEqual(['big2']);
    r = await c.get('/storage/xxx_col2?full=1&sort=oldest');
    expect(r.json()).toEqual([
      { id: 'big', modified: t1, payload },
      { id: 'big2', modified: res.modified, payload, sortindex: 5 },
    ]);
    for (const field of ['payload_link', 'payload_size', 'ttl', 'expiry', 'collection']) expect(r.text).not.toContain(`"${field}"`);
    expect((await c.get('/info/collection_usage')).json()).toEqual({ xxx_col2: 4 });
  });

  it('test_multi_item_post_limits: max_post_records and max_post_bytes give per-item failures', async () => {
    const c = new StorageClient(server);
    const config = await c.get('/info/configuration');
    expect(config.status).toBe(200);
    const maxBytes: number = config.json().max_post_bytes;
    const maxCount: number = config.json().max_post_records;
    const maxReqBytes: number = config.json().max_request_bytes;
    for (const v of [maxBytes, maxCount, maxReqBytes]) expect(Number.isInteger(v) && v > 0).toBe(true);

    const small = (n: number) => Array.from({ length: n }, (_, i) => ({ id: String(i).padStart(2, '0'), payload: 'X' }));
    let res = expectPostOk(await c.post('/storage/xxx_col2', small(maxCount - 5)));
    expect(res.success).toHaveLength(maxCount - 5);
    expect(res.failed).toEqual({});

    // Five beyond the record limit: the first max_post_records succeed, the rest are "retry bso".
    const tooMany = small(maxCount + 5);
    res = expectPostOk(await c.post('/storage/xxx_col2', tooMany));
    expect(res.success).toEqual(tooMany.slice(0, maxCount).map((b) => b.id));
    expect(res.failed).toEqual(Object.fromEntries(tooMany.slice(maxCount).map((b) => [b.id, 'retry bso'])));
    expect((await c.get('/storage/xxx_col2')).json()).toHaveLength(maxCount);

    // The last record pushes the running payload total one byte past max_post_bytes.
    const itemSize = 227 * 1024;
    const maxItems = Math.floor(maxBytes / itemSize);
    const leftover = maxBytes % itemSize;
    const big = Array.from({ length: maxItems }, (_, i) => ({ id: `b${String(i).padStart(2, '0')}`, payload: 'X'.repeat(itemSize) }));
    big.push({ id: 'last', payload: 'X'.repeat(leftover + 1) });
    const body = JSON.stringify(big);
    expect(body.length).toBeLessThan(maxReqBytes);
    res = expectPostOk(await c.post('/storage/xxx_col3', body));
    expect(res.success).toEqual(big.slice(0, maxItems).map((b) => b.id));
    expect(res.failed).toEqual({ last: 'retry bytes' });
    expect((await c.get('/storage/xxx_col3/last')).status).toBe(404);
  });

  it('test_handling_of_invalid_json_in_bso_uploads: non-BSO PUT bodies and non-list POST bodies → 400 code 8', async () => {
    const c = new StorageClient(server);
    // PUT of JSON that is not a BSO object.
    for (const body of [JSON.stringify('notabso'), JSON.stringify(42), { id: ['01', '02'], payload: { '3': '4' } }]) {
      expectError(await c.put('/storage/xxx_col2/invalid', body), 400, WEAVE_INVALID_WBO);
    }
    expect((await c.get('/storage/xxx_col2/invalid')).status).toBe(404);

    // POST of JSON that is not a list.
    for (const body of [JSON.stringify('notalist'), JSON.stringify(42), { id: '01', payload: 'x' }]) {
      expectError(await c.post('/storage/xxx_col2', body), 400, WEAVE_INVALID_WBO);
    }

    // A list holding something that is not an object fails as a whole.
    expectError(await c.post('/storage/xxx_col2', [{ id: '01', payload: 'GOOD' }, 'BAD']), 400, WEAVE_INVALID_WBO);
    expect((await c.get('/storage/xxx_col2/01')).status).toBe(404);
    expect((await c.get('/info/collections')).json()).toEqual({});

    // Body that is not JSON at all: code 6 (§6 recommendation).
    expectError(await c.put('/storage/xxx_col2/invalid', '{"payload": "x"'), 400, WEAVE_JSON_PARSE);
    expectError(await c.post('/storage/xxx_col2', '[{"id": "01", "payload": "x"}'), 400, WEAVE_JSON_PARSE);

    // A list with one invalid BSO: the good one is written, the bad one reported.
    const res = expectPostOk(await c.post('/storage/xxx_col2', [{ id: '01', payload: 'GOOD' }, { id: '02', invalid: 'ya' }]));
    expect(res.success).toEqual(['01']);
    expect(Object.keys(res.failed)).toEqual(['02']);
    expect((await c.get('/storage/xxx_col2/01')).json().payload).toBe('GOOD');
    expect((await c.get('/storage/xxx_col2/02')).status).toBe(404);
  });

  it('test_handling_of_invalid_bso_fields: bad ids, sortindex, payload, ttl and unknown fields fail on POST, 400 code 8 on PUT', async () => {
    const c = new StorageClient(server);
    const expectRejectedByPost = async (bso: Record<string, unknown>) => {
      const res = expectPostOk(await c.post('/storage/xxx_col2', [bso]));
      expect(res.success, JSON.stringify(bso)).toEqual([]);
      expect(Object.keys(res.failed), JSON.stringify(bso)).toEqual([bso.id]);
      expect(typeof res.failed[bso.id as string]).toBe('string');
    };

    // Invalid ids: control characters (newlines in every position, tab), empty, 65 characters.
    for (const id of ['A\nB', 'A\n', '\nN', 'A\tB', '', 'X'.repeat(65)]) {
      await expectRejectedByPost({ id, payload: 'testing' });
    }
    // A body id that is invalid makes a PUT fail even though the URL id is fine.
    expectError(await c.put('/storage/xxx_col2/TEST', { id: 'A\tB', payload: 'testing' }), 400, WEAVE_INVALID_WBO);

    const invalid: Record<string, unknown>[] = [
      { id: 'TEST', payload: 'testing', sortindex: 'xxx_meh' },
      { id: 'TEST', payload: 'testing', sortindex: '2.6' },
      { id: 'TEST', payload: 'testing', sortindex: 2.6 },
      { id: 'TEST', payload: 'testing', sortindex: '1000000000' },
      { id: 'TEST', payload: 'testing', sortindex: 1_000_000_000 },
      { id: 'TEST', payload: 'testing', sortindex: -1_000_000_000 },
      { id: 'TEST', payload: 42 },
      { id: 'TEST', payload: { nested: true } },
      { id: 'TEST', payload: 'testing', ttl: 'eh?' },
      { id: 'TEST', payload: 'testing', ttl: '4.2' },
      { id: 'TEST', payload: 'testing', ttl: 4.2 },
      { id: 'TEST', payload: 'testing', ttl: 1_000_000_000 },
      { id: 'TEST', unexpected: 'spanish-inquisition' },
      { id: 'TEST', payload: 'testing', payload_size: 7 },
    ];
    for (const bso of invalid) {
      await expectRejectedByPost(bso);
      expectError(await c.put('/storage/xxx_col2/TEST', bso), 400, WEAVE_INVALID_WBO);
    }
    // Nothing was written.
    expect((await c.get('/storage/xxx_col2/TEST')).status).toBe(404);
    expect((await c.get('/storage/xxx_col2')).json()).toEqual([]);

    // The boundary values themselves are valid.
    const ok = expectPostOk(
      await c.post('/storage/xxx_col2', [
        { id: 'X'.repeat(64), payload: 'testing', sortindex: 999_999_999 },
        { id: ' ~', payload: 'testing', sortindex: -999_999_999, ttl: 999_999_999 },
      ]),
    );
    expect(ok.success).toEqual(['X'.repeat(64), ' ~']);
    expect(ok.failed).toEqual({});
  });
});
