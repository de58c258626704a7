import { describe, expect, it } from 'vitest';
import { StorageClient, ts } from '../helpers/client.js';
import { testEngines, useServer } from '../helpers/server.js';

// Catalogue rows 33, 36, 37, 38, 59 (sync-storage.md 5.3): ttl handling, partial updates and
// negative numbers. ttl is whole seconds, so the expiry checks wait just over one second.

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Wait until the local clock is `ms` past a server timestamp (header value in seconds). */
async function sleepUntil(serverSeconds: number, ms: number): Promise<void> {
  const wait = serverSeconds * 1000 + ms - Date.now();
  if (wait > 0) await sleep(wait);
}

function byId(items: any[]): Record<string, any> {
  return Object.fromEntries(items.map((b) => [b.id, b]));
}

describe.each(await testEngines())('storage records and ttl (%s)', (engine) => {
  const server = useServer(engine);

  it('test_that_expired_items_can_be_overwritten_via_PUT: an expired item is 404 and can be PUT again', async () => {
    const c = new StorageClient(server);
    let r = await c.put('/storage/xxx_col2/TEST', { payload: 'XYZ', ttl: 0 });
    expect(r.status).toBe(200);
    await sleep(20);
    r = await c.get('/storage/xxx_col2/TEST');
    expect(r.status).toBe(404);
    expect(r.text).toBe('0');
    expect((await c.get('/storage/xxx_col2')).json()).toEqual([]);

    r = await c.put('/storage/xxx_col2/TEST', { payload: 'XYZ', ttl: 42 });
    expect(r.status).toBe(200);
    const t = ts(r.header('x-last-modified'));
    r = await c.get('/storage/xxx_col2/TEST');
    expect(r.status).toBe(200);
    expect(r.json()).toEqual({ id: 'TEST', modified: t, payload: 'XYZ' });

    // A ttl-only write over an expired row must not revive the expired payload (2.4).
    await c.put('/storage/xxx_col2/OLD', { payload: 'stale', ttl: 0 });
    await sleep(20);
    r = await c.put('/storage/xxx_col2/OLD', { ttl: 42 });
    expect(r.status).toBe(200);
    r = await c.get('/storage/xxx_col2/OLD');
    expect(r.status).toBe(200);
    expect(r.json().payload).toBe('');
  });

  it('test_update_of_ttl_without_sending_data: ttl-only PUT extends life and keeps payload; sortindex-only PUT keeps ttl', async () => {
    const c = new StorageClient(server);
    let r = await c.put('/storage/xxx_col2/TEST1', { payload: 'x', ttl: 1 });
    expect(r.status).toBe(200);
    const created = ts(r.header('x-last-modified'));
    r = await c.put('/storage/xxx_col2/TEST2', { payload: 'x', ttl: 1 });
    expect(r.status).toBe(200);
    const t2 = ts(r.header('x-last-modified'));

    // Before those expire: bump the ttl of an existing item and of one that does not exist.
    r = await c.put('/storage/xxx_col2/TEST2', { ttl: 10 });
    expect(r.status).toBe(200);
    r = await c.put('/storage/xxx_col2/TEST3', { ttl: 10 });
    expect(r.status).toBe(200);
    const t3 = ts(r.header('x-last-modified'));
    // Touch another field of TEST1; its ttl must stay as it was.
    r = await c.put('/storage/xxx_col2/TEST1', { sortindex: 3 });
    expect(r.status).toBe(200);

    await sleepUntil(created, 1150);
    r = await c.get('/storage/xxx_col2?full=1');
    expect(r.status).toBe(200);
    const items = byId(r.json());
    expect(Object.keys(items).sort()).toEqual(['TEST2', 'TEST3']);
    expect(items.TEST2.payload).toBe('x');
    expect(items.TEST3.payload).toBe('');
    // A ttl-only update does not bump modified; the new item gets its write time.
    expect(items.TEST2.modified).toBe(t2);
    expect(items.TEST3.modified).toBe(t3);
    expect(items.TEST2.modified).toBeLessThan(items.TEST3.modified);
  });

  it('test_bulk_update_of_ttls_without_sending_data: ttl-only POST items keep payload and modified', async () => {
    const c = new StorageClient(server);
    const first = ['00', '01', '02', '03', '04'].map((id) => ({ id, payload: 'x', ttl: 1 }));
    let r = await c.post('/storage/xxx_col2', first);
    expect(r.status).toBe(200);
    const ts1 = ts(r.header('x-last-modified'));
    expect(r.json().modified).toBe(ts1);

    const second: any[] = ['03', '04', '05', '06'].map((id) => ({ id, ttl: 10 }));
    second[0].payload = 'xx';
    r = await c.post('/storage/xxx_col2', second);
    expect(r.status).toBe(200);
    expect(r.json().success).toEqual(['03', '04', '05', '06']);
    expect(r.json().failed).toEqual({});
    const ts2 = ts(r.header('x-last-modified'));
    expect(ts2).toBeGreaterThan(ts1);

    // The collection timestamp moves even though some items only got a new ttl.
    r = await c.get('/info/collections');
    expect(r.json().xxx_col2).toBe(ts2);

    await sleepUntil(ts1, 1150);
    r = await c.get('/storage/xxx_col2?full=1');
    const items = byId(r.json());
    expect(Object.keys(items).sort()).toEqual(['03', '04', '05', '06']);
    expect(items['03'].payload).toBe('xx');
    expect(items['04'].payload).toBe('x');
    expect(items['05'].payload).toBe('');
    expect(items['06'].payload).toBe('');
    expect(items['03'].modified).toBe(ts2);
    expect(items['04'].modified).toBe(ts1);
    expect(items['05'].modified).toBe(ts2);
    expect(items['06'].modified).toBe(ts2);
  });

  it('test_that_negative_integer_fields_are_not_accepted: negative ttl/limit/X-If-* give 400, negative sortindex is fine', async () => {
    const c = new StorageClient(server);
    let r = await c.put('/storage/xxx_col2/TEST', { payload: 'TEST', ttl: -1 });
    expect(r.status).toBe(400);
    expect(r.text).toBe('8');
    expect((await c.get('/storage/xxx_col2/TEST')).status).toBe(404);

    r = await c.put('/storage/xxx_col2/TEST', { payload: 'X' });
    expect(r.status).toBe(200);
    const t = ts(r.header('x-last-modified'));

    r = await c.get('/storage/xxx_col2?limit=-1');
    expect(r.status).toBe(400);
    expect(r.text).toBe('0');

    r = await c.get('/storage/xxx_col2', { headers: { 'x-if-modified-since': '-3' } });
    expect(r.status).toBe(400);
    expect(r.text).toBe('0');

    r = await c.put('/storage/xxx_col2/TEST', { payload: 'TEST' }, { headers: { 'x-if-unmodified-since': '-3' } });
    expect(r.status).toBe(400);
    expect(r.text).toBe('0');
    r = await c.get('/storage/xxx_col2/TEST');
    expect(r.json()).toEqual({ id: 'TEST', modified: t, payload: 'X' });

    r = await c.put('/storage/xxx_col2/TEST', { payload: 'TEST', sortindex: -42 });
    expect(r.status).toBe(200);
    r = await c.get('/storage/xxx_col2/TEST');
    expect(r.json().sortindex).toBe(-42);
    expect(r.json().payload).toBe('TEST');
  });

  it('test_create_bso_with_null_ttl: "ttl": null on create stores a non-expiring item', async () => {
    const c = new StorageClient(server);
    let r = await c.put('/storage/xxx_col2/TEST1', { payload: 'x', ttl: null });
    expect(r.status).toBe(200);
    const t = ts(r.header('x-last-modified'));
    await sleep(20);
    r = await c.get('/storage/xxx_col2/TEST1?full=1');
    expect(r.status).toBe(200);
    expect(r.json()).toEqual({ id: 'TEST1', modified: t, payload: 'x' });

    r = await c.post('/storage/xxx_col2', [{ id: 'TEST2', payload: 'y', ttl: null }]);
    expect(r.status).toBe(200);
    expect(r.json().success).toEqual(['TEST2']);
    r = await c.get('/storage/xxx_col2?full=1&sort=oldest');
    expect(r.json().map((b: any) => b.payload)).toEqual(['x', 'y']);
  });
});
