import { describe, expect, it } from 'vitest';
import { StorageClient, mintToken, ts } from '../helpers/client.js';
import { testEngines, useServer } from '../helpers/server.js';

// Catalogue rows 34, 35, 39-44, 60, 62-64 (sync-storage.md 5.3).

const INFO_VIEWS = ['/info/collections', '/info/quota', '/info/collection_usage', '/info/collection_counts'];

function expectJsonType(r: { header: (n: string) => string | null }): void {
  expect(r.header('content-type') ?? '').toMatch(/^application\/json\b/);
}

/** Page through `url` (which already has a query) following X-Weave-Next-Offset. */
async function fetchAllPages(c: StorageClient, url: string): Promise<any[]> {
  const items: any[] = [];
  let r = await c.get(url);
  expect(r.status).toBe(200);
  items.push(...r.json());
  let next = r.header('x-weave-next-offset');
  let guard = 0;
  while (next !== null) {
    r = await c.get(`${url}&offset=${encodeURIComponent(next)}`);
    expect(r.status).toBe(200);
    items.push(...r.json());
    next = r.header('x-weave-next-offset');
    if (++guard > 50) throw new Error('paging does not end');
  }
  return items;
}

describe.each(await testEngines())('storage misc (%s)', (engine) => {
  const server = useServer(engine);

  it('test_if_modified_since_on_info_views: the four info views answer 200/304 against the storage timestamp', async () => {
    const c = new StorageClient(server);
    let r = await c.post('/storage/xxx_col1', ['00', '01', '02'].map((id) => ({ id, payload: 'xxx' })));
    expect(r.status).toBe(200);
    r = await c.get('/info/collections');
    const ts1 = r.header('x-last-modified')!;
    expect(ts(ts1)).toBeGreaterThan(0);
    expect(ts(ts1)).toBe(r.json().xxx_col1);

    const older = (ts(ts1) - 1).toFixed(2);
    for (const view of INFO_VIEWS) {
      r = await c.get(view, { headers: { 'x-if-modified-since': older } });
      expect(r.status, view).toBe(200);
    }
    for (const view of INFO_VIEWS) {
      r = await c.get(view, { headers: { 'x-if-modified-since': ts1 } });
      expect(r.status, view).toBe(304);
      expect(r.text, view).toBe('');
      expect(r.header('x-last-modified'), view).toBe(ts1);
    }

    // Changing another collection moves the storage timestamp.
    r = await c.put('/storage/xxx_col2/TEST', { payload: 'TEST' });
    expect(r.status).toBe(200);
    const ts2 = r.header('x-last-modified')!;
    expect(ts(ts2)).toBeGreaterThan(ts(ts1));
    for (const view of INFO_VIEWS) {
      r = await c.get(view, { headers: { 'x-if-modified-since': ts1 } });
      expect(r.status, view).toBe(200);
      expect(r.header('x-last-modified'), view).toBe(ts2);
    }
    for (const view of INFO_VIEWS) {
      r = await c.get(view, { headers: { 'x-if-modified-since': ts2 } });
      expect(r.status, view).toBe(304);
      expect(r.header('x-last-modified'), view).toBe(ts2);
    }
  });

  it('test_that_x_last_modified_is_sent_for_all_get_requests: X-Last-Modified on info, collection and item GETs', async () => {
    const c = new StorageClient(server);
    let r = await c.post('/storage/xxx_col2', ['00', '01', '02', '03', '04'].map((id) => ({ id, payload: 'xxx' })));
    expect(r.status).toBe(200);
    const t = r.header('x-last-modified')!;
    expect(r.json().modified).toBe(ts(t));

    for (const path of ['/info/collections', '/info/collection_counts', '/storage/xxx_col2', '/storage/xxx_col2/01']) {
      r = await c.get(path);
      expect(r.status, path).toBe(200);
      expect(r.header('x-last-modified'), path).toBe(t);
    }
  });

  it('test_meta_global_sanity: meta/global keys, two-decimal modified, client modified ignored', async () => {
    const c = new StorageClient(server);
    let r = await c.get('/storage/meta/global');
    expect(r.status).toBe(404);
    expect(r.text).toBe('0');
    r = await c.get('/storage/meta');
    expect(r.status).toBe(200);
    expect(r.json()).toEqual([]);

    r = await c.put('/storage/meta/global', { payload: 'blob' });
    expect(r.status).toBe(200);
    r = await c.get('/storage/meta');
    expect(r.json()).toEqual(['global']);
    r = await c.get('/storage/meta/global');
    expect(r.status).toBe(200);
    expect(r.json().payload).toBe('blob');
    expect(Object.keys(r.json()).sort()).toEqual(['id', 'modified', 'payload']);
    expect(r.text).toMatch(/"modified":\s*[0-9]+\.[0-9][0-9]\s*[,}]/);

    r = await c.put('/storage/meta/global', { payload: 'blob', modified: 12 });
    expect(r.status).toBe(200);
    const weave = r.header('x-weave-timestamp')!;
    expect(r.text).toBe(weave);
    expect(r.header('x-last-modified')).toBe(weave);
    r = await c.get('/storage/meta/global');
    expect(r.json().modified).toBe(ts(weave));
    expect(r.text).toContain(`"modified":${weave}`);
  });

  it('test_that_404_responses_have_a_json_body: unknown URL gives 404 application/json body 0', async () => {
    const c = new StorageClient(server);
    for (const path of ['/nonexistent/url', '/info/nothing', '/storage/xxx_col1/a/b']) {
      const r = await c.get(path);
      expect(r.status, path).toBe(404);
      expectJsonType(r);
      expect(r.text, path).toBe('0');
      expect(r.json()).toBe(0);
    }
    const r = await c.raw('GET', '/nonexistent/url');
    expect(r.status).toBe(404);
    expectJsonType(r);
    expect(r.text).toBe('0');
  });

  it('test_that_internal_server_fields_are_not_echoed: no payload_size or ttl in GET output', async () => {
    const c = new StorageClient(server);
    expect((await c.post('/storage/xxx_col1', [{ id: 'one', payload: 'blob', ttl: 1000 }])).status).toBe(200);
    expect((await c.put('/storage/xxx_col1/two', { payload: 'blub', ttl: 1000, sortindex: 2 })).status).toBe(200);
    let r = await c.get('/storage/xxx_col1?full=1');
    expect(r.json()).toHaveLength(2);
    for (const item of r.json()) {
      expect(Object.keys(item).every((k) => ['id', 'modified', 'payload', 'sortindex'].includes(k))).toBe(true);
      expect(item).toHaveProperty('id');
      expect(item).toHaveProperty('payload');
      expect(item).not.toHaveProperty('payload_size');
      expect(item).not.toHaveProperty('ttl');
    }
    for (const id of ['one', 'two']) {
      r = await c.get(`/storage/xxx_col1/${id}`);
      const item = r.json();
      expect(Object.keys(item).sort()).toEqual(id === 'one' ? ['id', 'modified', 'payload'] : ['id', 'modified', 'payload', 'sortindex']);
      expect(item).not.toHaveProperty('payload_size');
      expect(item).not.toHaveProperty('ttl');
    }
  });

  it('test_accessing_info_collections_with_an_expired_token: 401 for storage GET/POST, info/collections still served', async () => {
    const c = new StorageClient(server);
    let r = await c.post('/storage/xxx_col1', ['00', '01', '02'].map((id) => ({ id, payload: 'xxx' })));
    expect(r.status).toBe(200);
    const t = ts(r.header('x-last-modified'));
    r = await c.get('/info/collections');
    expect(r.json()).toEqual({ xxx_col1: t });

    const expired = mintToken(c.uid, { expires: Date.now() / 1000 - 60 });
    r = await c.post('/storage/xxx_col1', ['00', '01', '02'].map((id) => ({ id, payload: 'aaa' })), { token: expired });
    expect(r.status).toBe(401);
    expect(r.text).toBe('0');
    expectJsonType(r);
    r = await c.get('/storage/xxx_col1', { token: expired });
    expect(r.status).toBe(401);
    expect(r.text).toBe('0');

    r = await c.get('/info/collections', { token: expired });
    expect(r.status).toBe(200);
    expect(r.json()).toEqual({ xxx_col1: t });

    // The rejected POST wrote nothing.
    r = await c.get('/storage/xxx_col1?full=1');
    expect(r.json().map((b: any) => b.payload)).toEqual(['xxx', 'xxx', 'xxx']);
  });

  it('test_pagination_with_newer_and_sort_by_oldest: pages with newer+oldest cover everything in ascending order', async () => {
    const c = new StorageClient(server);
    const stamps: [number, string][] = [];
    for (let batch = 0; batch < 3; batch++) {
      const bsos = [0, 1, 2, 3].map((k) => ({ id: String(batch * 4 + k).padStart(2, '0'), payload: 'x' }));
      const r = await c.post('/storage/xxx_col2', bsos);
      expect(r.status).toBe(200);
      stamps.push([batch * 4 + 3, r.header('x-last-modified')!]);
    }
    for (const limit of [2, 3, 4, 5, 6]) {
      for (const [start, t] of stamps) {
        const items = await fetchAllPages(c, `/storage/xxx_col2?full=true&sort=oldest&newer=${t}&limit=${limit}`);
        for (let i = 1; i < items.length; i++) expect(items[i - 1].modified).toBeLessThanOrEqual(items[i].modified);
        const ids = items.map((b) => Number(b.id));
        expect(ids.slice().sort((a, b) => a - b), `limit ${limit} newer ${t}`).toEqual(
          Array.from({ length: 11 - start }, (_, k) => start + 1 + k),
        );
        expect(new Set(ids).size).toBe(ids.length);
      }
    }
  });

  it('test_pagination_with_older_and_sort_by_newest: pages with older+newest cover everything in descending order', async () => {
    const c = new StorageClient(server);
    const stamps: [number, string][] = [];
    for (let batch = 0; batch < 3; batch++) {
      const bsos = [0, 1, 2, 3].map((k) => ({ id: String(batch * 4 + k).padStart(2, '0'), payload: 'x' }));
      const r = await c.post('/storage/xxx_col2', bsos);
      expect(r.status).toBe(200);
      stamps.push([batch * 4, r.header('x-last-modified')!]);
    }
    for (const limit of [2, 3, 4, 5, 6]) {
      for (const [start, t] of stamps) {
        const items = await fetchAllPages(c, `/storage/xxx_col2?full=true&sort=newest&older=${t}&limit=${limit}`);
        for (let i = 1; i < items.length; i++) expect(items[i - 1].modified).toBeGreaterThanOrEqual(items[i].modified);
        const ids = items.map((b) => Number(b.id));
        expect(ids.slice().sort((a, b) => a - b), `limit ${limit} older ${t}`).toEqual(Array.from({ length: start }, (_, k) => k));
        expect(new Set(ids).size).toBe(ids.length);
      }
    }
  });

  it('test_rejection_of_known_bad_payloads: zero-IV payload rejected in crypto, accepted elsewhere', async () => {
    const c = new StorageClient(server);
    const bso = { id: 'keys', payload: JSON.stringify({ ciphertext: 'IDontKnowWhatImDoing', IV: 'AAAAAAAAAAAAAAAAAAAAAA==' }) };
    let r = await c.put('/storage/crypto/keys', bso);
    expect(r.status).toBe(400);
    expect(r.text).toBe('8');
    r = await c.put('/storage/crypto/blerg', bso);
    expect(r.status).toBe(400);
    expect(r.text).toBe('8');
    r = await c.post('/storage/crypto', [bso]);
    expect(r.status).toBe(400);
    expect(r.text).toBe('8');
    // A good record in the same POST is not written either: the whole request fails.
    r = await c.post('/storage/crypto', [{ id: 'good', payload: 'fine' }, bso]);
    expect(r.status).toBe(400);
    expect(r.text).toBe('8');
    r = await c.get('/storage/crypto');
    expect(r.json()).toEqual([]);
    r = await c.get('/info/collections');
    expect(r.json()).not.toHaveProperty('crypto');

    r = await c.put('/storage/xxx_col2/keys', bso);
    expect(r.status).toBe(200);
    r = await c.post('/storage/xxx_col2', [bso]);
    expect(r.status).toBe(200);
    expect(r.json().success).toEqual(['keys']);
    r = await c.get('/storage/xxx_col2/keys');
    expect(r.json().payload).toBe(bso.payload);
  });

  it('test_cors_settings_are_set: preflight echoes Origin and sends a positive max-age', async () => {
    const c = new StorageClient(server);
    const r = await c.raw('OPTIONS', `${c.endpoint()}/__heartbeat__`, {
      unsigned: true,
      headers: { 'access-control-request-method': 'GET', origin: 'localhost', 'access-control-request-headers': 'Content-Type' },
    });
    expect([200, 204]).toContain(r.status);
    expect(r.header('access-control-allow-origin')).toBe('localhost');
    expect(Number(r.header('access-control-max-age'))).toBeGreaterThan(0);
  });

  it('test_cors_allows_any_origin: preflight from any origin succeeds', async () => {
    const c = new StorageClient(server);
    for (const path of [`${c.endpoint()}/__heartbeat__`, `${c.endpoint()}/storage/xxx_col1`, '/__heartbeat__']) {
      const r = await c.raw('OPTIONS', path, {
        unsigned: true,
        headers: { 'access-control-request-method': 'GET', origin: 'http://test-website.com', 'access-control-request-headers': 'Content-Type' },
      });
      expect([200, 204], path).toContain(r.status);
      expect(r.header('access-control-allow-origin'), path).toBe('http://test-website.com');
    }
  });

  it('test_patch_is_not_allowed: PATCH on a collection gives 405', async () => {
    const c = new StorageClient(server);
    let r = await c.request('PATCH', '/storage/xxx_col1', { body: {} });
    expect(r.status).toBe(405);
    r = await c.request('PATCH', '/storage/xxx_col1');
    expect(r.status).toBe(405);
    r = await c.get('/info/collections');
    expect(r.json()).toEqual({});
  });
});
