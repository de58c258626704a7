import { describe, expect, it } from 'vitest';
import { StorageClient, ts, type Reply } from '../helpers/client.js';
import { testEngines, useServer } from '../helpers/server.js';

// Bad input (sync-storage.md 2.1, 2.4, 2.5, 2.7, 2.9, 2.10, 2.14, 6): every rejection has the
// documented status and numeric body, and leaves stored data exactly as it was.

const LIMITS = {
  FOXDEN_STORAGE_MAX_POST_RECORDS: 10,
  FOXDEN_STORAGE_MAX_POST_BYTES: 4096,
  FOXDEN_STORAGE_MAX_RECORD_PAYLOAD_BYTES: 2048,
  FOXDEN_STORAGE_MAX_REQUEST_BYTES: 8192,
};

function expectError(r: Reply, status: number, body: string, what = ''): void {
  expect(r.status, what).toBe(status);
  expect(r.text, what).toBe(body);
  expect(r.header('content-type') ?? '', what).toMatch(/^application\/json\b/);
}

describe.each(await testEngines())('storage bad input (%s)', (engine) => {
  const server = useServer(engine, LIMITS);

  /** A user with two records in `col`; `check()` asserts nothing changed since. */
  async function seeded(): Promise<{ c: StorageClient; check: (what?: string) => Promise<void> }> {
    const c = new StorageClient(server);
    const r = await c.post('/storage/col', [
      { id: 'a', payload: 'alpha', sortindex: 1 },
      { id: 'b', payload: 'beta', ttl: 3600 },
    ]);
    expect(r.status).toBe(200);
    const t = ts(r.header('x-last-modified'));
    const expected = [
      { id: 'a', modified: t, payload: 'alpha', sortindex: 1 },
      { id: 'b', modified: t, payload: 'beta' },
    ];
    return {
      c,
      check: async (what = '') => {
        let g = await c.get('/storage/col?full=1&sort=oldest');
        expect(g.status, what).toBe(200);
        expect(g.json().sort((x: any, y: any) => (x.id < y.id ? -1 : 1)), what).toEqual(expected);
        g = await c.get('/info/collections');
        expect(g.json(), what).toEqual({ col: t });
        expect(ts(g.header('x-last-modified')), what).toBe(t);
      },
    };
  }

  it('malformed JSON bodies give 400 body 6', async () => {
    const { c, check } = await seeded();
    const broken = ['{"payload": ', '{payload: "x"}', "{'payload': 'x'}", 'not json', '{"payload":"x"}}'];
    for (const body of broken) {
      expectError(await c.put('/storage/col/a', body), 400, '6', `PUT ${body}`);
      expectError(await c.put('/storage/col/a', body, { contentType: 'text/plain' }), 400, '6', `PUT text/plain ${body}`);
    }
    for (const body of ['[{"id":"a","payload":"x"}', '[{"id":"a",}]', 'nope', '[{"id":"a","payload":"x"}]]']) {
      expectError(await c.post('/storage/col', body), 400, '6', `POST ${body}`);
      expectError(await c.post('/storage/col?batch=true&commit=true', body), 400, '6', `POST commit ${body}`);
    }
    expectError(await c.post('/storage/col', '{"id":"a","payload":"changed"}\n{"id":"c",', { contentType: 'application/newlines' }), 400, '6', 'newlines');
    await check();

    // A malformed commit leaves the batch's staged items unapplied.
    let r = await c.post('/storage/col?batch=true', [{ id: 'a', payload: 'staged' }]);
    expect(r.status).toBe(202);
    const batch = encodeURIComponent(r.json().batch);
    expectError(await c.post(`/storage/col?batch=${batch}&commit=true`, '[{"id":'), 400, '6', 'commit');
    await check('after a malformed commit');
  });

  it('an unsupported Content-Type gives 415 body 0', async () => {
    const { c, check } = await seeded();
    const record = JSON.stringify({ payload: 'changed' });
    const records = JSON.stringify([{ id: 'a', payload: 'changed' }, { id: 'c', payload: 'new' }]);
    for (const type of ['application/octet-stream', 'application/x-www-form-urlencoded', 'text/html', 'image/png']) {
      expectError(await c.put('/storage/col/a', record, { contentType: type }), 415, '0', `PUT ${type}`);
      expectError(await c.post('/storage/col', records, { contentType: type }), 415, '0', `POST ${type}`);
      expectError(await c.post('/storage/col?batch=true', records, { contentType: type }), 415, '0', `POST batch ${type}`);
    }
    // PUT takes no newline input: rs 400 (code 8), py 415 (2.7).
    const r = await c.put('/storage/col/a', record, { contentType: 'application/newlines' });
    expect([400, 415]).toContain(r.status);
    expect(r.text).toBe(r.status === 400 ? '8' : '0');
    await check();

    // Parameters such as charset are ignored.
    expect((await c.put('/storage/col/c', record, { contentType: 'application/json; charset=utf-8' })).status).toBe(200);
    expect((await c.get('/storage/col/c')).json().payload).toBe('changed');
  });

  it('a body larger than FOXDEN_STORAGE_MAX_REQUEST_BYTES gives 413 body 17', async () => {
    const { c, check } = await seeded();
    const big = 'x'.repeat(LIMITS.FOXDEN_STORAGE_MAX_REQUEST_BYTES);
    expectError(await c.put('/storage/col/a', { payload: big }), 413, '17', 'PUT');
    expectError(await c.put('/storage/col/a', { payload: big }, { contentType: 'text/plain' }), 413, '17', 'PUT text/plain');
    const many = Array.from({ length: 9 }, (_, i) => ({ id: `n${i}`, payload: 'y'.repeat(1000) }));
    expect(JSON.stringify(many).length).toBeGreaterThan(LIMITS.FOXDEN_STORAGE_MAX_REQUEST_BYTES);
    expectError(await c.post('/storage/col', many), 413, '17', 'POST');
    expectError(await c.post('/storage/col?batch=true', many), 413, '17', 'POST batch');
    await check();
  });

  it('an oversized record payload: PUT gives 400 body 8, a POST item fails with "retry bytes"', async () => {
    const { c, check } = await seeded();
    const max = LIMITS.FOXDEN_STORAGE_MAX_RECORD_PAYLOAD_BYTES;
    expectError(await c.put('/storage/col/a', { payload: 'z'.repeat(max + 1) }), 400, '8', 'PUT');
    // Counted in UTF-8 bytes: fewer characters than the limit, more bytes.
    expectError(await c.put('/storage/col/a', { payload: 'é'.repeat(max / 2 + 1) }), 400, '8', 'PUT utf-8');
    await check();

    let r = await c.post('/storage/col', [
      { id: 'a', payload: 'z'.repeat(max + 1) },
      { id: 'd', payload: 'fits' },
    ]);
    expect(r.status).toBe(200);
    expect(r.json().success).toEqual(['d']);
    expect(r.json().failed).toEqual({ a: 'retry bytes' });
    r = await c.get('/storage/col/a');
    expect(r.json().payload).toBe('alpha');

    // Exactly the limit is fine.
    r = await c.put('/storage/col/e', { payload: 'z'.repeat(max) });
    expect(r.status).toBe(200);
  });

  it('invalid ids and collection names in the path give 404 body 0 and write nothing', async () => {
    const { c, check } = await seeded();
    const badCollections = ['c'.repeat(33), 'bad!name', 'bad%20name', 'bad%2Cname', 'caf%C3%A9', 'a+b'];
    const badIds = ['i'.repeat(65), 'bad%0Aid', 'tab%09id', 'caf%C3%A9', 'del%7F'];
    const record = { payload: 'changed' };
    for (const coll of badCollections) {
      expectError(await c.get(`/storage/${coll}`), 404, '0', `GET ${coll}`);
      expectError(await c.post(`/storage/${coll}`, [{ id: 'x', payload: 'x' }]), 404, '0', `POST ${coll}`);
      expectError(await c.delete(`/storage/${coll}`), 404, '0', `DELETE ${coll}`);
      expectError(await c.put(`/storage/${coll}/x`, record), 404, '0', `PUT ${coll}/x`);
      expectError(await c.get(`/storage/${coll}/x`), 404, '0', `GET ${coll}/x`);
    }
    for (const id of badIds) {
      expectError(await c.get(`/storage/col/${id}`), 404, '0', `GET ${id}`);
      expectError(await c.put(`/storage/col/${id}`, record), 404, '0', `PUT ${id}`);
      expectError(await c.delete(`/storage/col/${id}`), 404, '0', `DELETE ${id}`);
    }
    await check();

    // The limits themselves are valid.
    expect((await c.put(`/storage/${'c'.repeat(32)}/${'i'.repeat(64)}`, record)).status).toBe(200);
    expect((await c.put('/storage/col.with_all-chars/a%20b~', record)).status).toBe(200);
    expect((await c.get('/storage/col.with_all-chars/a%20b~')).json().id).toBe('a b~');
  });

  it('out-of-range numbers give 400', async () => {
    const { c, check } = await seeded();
    const invalid = [
      ['sortindex 1000000000', { payload: 'changed', sortindex: 1_000_000_000 }],
      ['sortindex -1000000000', { payload: 'changed', sortindex: -1_000_000_000 }],
      ['sortindex 1.5', { payload: 'changed', sortindex: 1.5 }],
      ['ttl -1', { payload: 'changed', ttl: -1 }],
      ['ttl 1000000000', { payload: 'changed', ttl: 1_000_000_000 }],
      ['ttl 1.5', { payload: 'changed', ttl: 1.5 }],
    ] as const;
    for (const [what, bso] of invalid) {
      expectError(await c.put('/storage/col/a', bso), 400, '8', `PUT ${what}`);
    }
    for (const query of ['limit=-1', 'newer=-1', 'older=-1', 'limit=abc', 'newer=abc', 'older=1e', 'limit=1.5']) {
      expectError(await c.get(`/storage/col?${query}`), 400, '0', query);
      expectError(await c.get(`/storage/col?full=1&${query}`), 400, '0', `full ${query}`);
    }
    expectError(await c.get('/storage/col', { headers: { 'x-if-modified-since': '-1' } }), 400, '0', 'GET X-If-Modified-Since -1');
    expectError(await c.get('/storage/col/a', { headers: { 'x-if-modified-since': '-1' } }), 400, '0', 'GET item X-If-Modified-Since -1');
    expectError(await c.get('/info/collections', { headers: { 'x-if-modified-since': '-1' } }), 400, '0', 'info X-If-Modified-Since -1');
    expectError(await c.get('/storage/col', { headers: { 'x-if-modified-since': 'yesterday' } }), 400, '0', 'X-If-Modified-Since text');
    expectError(await c.put('/storage/col/a', { payload: 'changed' }, { headers: { 'x-if-unmodified-since': '-1' } }), 400, '0', 'PUT X-If-Unmodified-Since -1');
    expectError(await c.post('/storage/col', [{ id: 'a', payload: 'changed' }], { headers: { 'x-if-unmodified-since': 'abc' } }), 400, '0', 'POST X-If-Unmodified-Since abc');
    expectError(await c.delete('/storage/col/a', { headers: { 'x-if-unmodified-since': '-1' } }), 400, '0', 'DELETE X-If-Unmodified-Since -1');
    expectError(await c.delete('/storage/col', { headers: { 'x-if-unmodified-since': '-1' } }), 400, '0', 'DELETE collection X-If-Unmodified-Since -1');
    await check();

    // In a POST only the offending item fails; the stored record keeps its values.
    const before = (await c.get('/storage/col/a')).json();
    for (const [what, bso] of invalid) {
      const r = await c.post('/storage/col', [{ id: 'a', ...bso }, { id: 'd', payload: 'ok' }]);
      expect(r.status, `POST ${what}`).toBe(200);
      expect(r.json().success, `POST ${what}`).toEqual(['d']);
      expect(Object.keys(r.json().failed), `POST ${what}`).toEqual(['a']);
      expect((await c.get('/storage/col/a')).json(), `POST ${what}`).toEqual(before);
    }

    // The edges are valid.
    let r = await c.put('/storage/col/f', { payload: 'edge', sortindex: 999_999_999, ttl: 999_999_999 });
    expect(r.status).toBe(200);
    r = await c.put('/storage/col/g', { payload: 'edge', sortindex: -999_999_999 });
    expect(r.status).toBe(200);
    r = await c.get('/storage/col?ids=f,g&full=1&sort=index');
    expect(r.json().map((b: any) => b.sortindex)).toEqual([999_999_999, -999_999_999]);
  });

  it('a non-numeric X-Weave-Records gives 400; above max_post_records gives 400 body 17', async () => {
    const { c, check } = await seeded();
    const records = [{ id: 'a', payload: 'changed' }, { id: 'c', payload: 'new' }];
    for (const value of ['abc', '-1', '1.5', '10x']) {
      for (const header of ['x-weave-records', 'x-weave-bytes', 'x-weave-total-records', 'x-weave-total-bytes']) {
        const r = await c.post('/storage/col', records, { headers: { [header]: value } });
        expect(r.status, `${header}: ${value}`).toBe(400);
        // rs code 0; the written docs say 1 (2.5).
        expect(['0', '1'], `${header}: ${value}`).toContain(r.text);
      }
    }
    expectError(await c.post('/storage/col', records, { headers: { 'x-weave-records': String(LIMITS.FOXDEN_STORAGE_MAX_POST_RECORDS + 1) } }), 400, '17', 'X-Weave-Records');
    expectError(await c.post('/storage/col?batch=true', records, { headers: { 'x-weave-records': String(LIMITS.FOXDEN_STORAGE_MAX_POST_RECORDS + 1) } }), 400, '17', 'X-Weave-Records batch');
    expectError(await c.post('/storage/col', records, { headers: { 'x-weave-bytes': String(LIMITS.FOXDEN_STORAGE_MAX_POST_BYTES + 1) } }), 400, '17', 'X-Weave-Bytes');
    await check();

    // At the limit is fine.
    const r = await c.post('/storage/col', [{ id: 'c', payload: 'new' }], {
      headers: { 'x-weave-records': String(LIMITS.FOXDEN_STORAGE_MAX_POST_RECORDS), 'x-weave-bytes': String(LIMITS.FOXDEN_STORAGE_MAX_POST_BYTES) },
    });
    expect(r.status).toBe(200);
    expect(r.json().success).toEqual(['c']);
  });

  it('unknown query parameters are ignored', async () => {
    const { c } = await seeded();
    const plain = await c.get('/storage/col?full=1&sort=oldest');
    let r = await c.get('/storage/col?full=1&sort=oldest&foo=bar&x-weave=1&batchy=2');
    expect(r.status).toBe(200);
    expect(r.json()).toEqual(plain.json());
    r = await c.get('/storage/col/a?whatever=1');
    expect(r.status).toBe(200);
    expect(r.json().payload).toBe('alpha');
    r = await c.get('/info/collections?foo=bar');
    expect(r.status).toBe(200);

    r = await c.put('/storage/col/a?foo=bar', { payload: 'put' });
    expect(r.status).toBe(200);
    r = await c.post('/storage/col?foo=bar', [{ id: 'c', payload: 'posted' }]);
    expect(r.status).toBe(200);
    expect(r.json().success).toEqual(['c']);
    r = await c.delete('/storage/col/b?foo=bar');
    expect(r.status).toBe(200);
    r = await c.get('/storage/col?full=1&sort=oldest');
    expect(r.json().map((b: any) => [b.id, b.payload])).toEqual([
      ['a', 'put'],
      ['c', 'posted'],
    ]);
  });

  it('X-If-Modified-Since and X-If-Unmodified-Since together give 400', async () => {
    const { c, check } = await seeded();
    const both = { 'x-if-modified-since': '1.00', 'x-if-unmodified-since': '9999999999.00' };
    expectError(await c.get('/storage/col', { headers: both }), 400, '0', 'GET collection');
    expectError(await c.get('/storage/col/a', { headers: both }), 400, '0', 'GET item');
    expectError(await c.get('/info/collections', { headers: both }), 400, '0', 'info/collections');
    expectError(await c.put('/storage/col/a', { payload: 'changed' }, { headers: both }), 400, '0', 'PUT');
    expectError(await c.post('/storage/col', [{ id: 'a', payload: 'changed' }], { headers: both }), 400, '0', 'POST');
    expectError(await c.delete('/storage/col/a', { headers: both }), 400, '0', 'DELETE item');
    expectError(await c.delete('/storage/col?ids=a,b', { headers: both }), 400, '0', 'DELETE ids');
    expectError(await c.delete('/storage/col', { headers: both }), 400, '0', 'DELETE collection');
    expectError(await c.delete('/storage', { headers: both }), 400, '0', 'DELETE storage');
    await check();
  });

  it('whole-request shape errors in POST give 400 body 8 and write nothing', async () => {
    const { c, check } = await seeded();
    for (const body of [{ id: 'a', payload: 'x' }, '"string"', '42', '[1]', '[{"payload":"no id"}]', '[{"id":"a","payload":"x"},{"id":"a","payload":"y"}]', '[{"id":"c","payload":"x"},"x"]']) {
      const text = typeof body === 'string' ? body : JSON.stringify(body);
      expectError(await c.post('/storage/col', text), 400, '8', text);
    }
    for (const body of ['"string"', '42', '[]', 'null']) {
      expectError(await c.put('/storage/col/a', body), 400, '8', `PUT ${body}`);
    }
    await check();
  });
});
