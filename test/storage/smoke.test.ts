import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StorageClient } from '../helpers/client.js';
import { startServer, testEngines, type TestServer } from '../helpers/server.js';

describe.each(await testEngines())('storage smoke (%s)', (engine) => {
  let server: TestServer;
  let c: StorageClient;
  beforeAll(async () => {
    server = await startServer(engine);
    c = new StorageClient(server);
  });
  afterAll(async () => server?.close());

  it('writes and reads back', async () => {
    let r = await c.get('/info/collections');
    expect(r.status).toBe(200);
    expect(r.json()).toEqual({});
    r = await c.put('/storage/meta/global', { payload: 'hello' }, { headers: { 'x-if-unmodified-since': '0' } });
    expect(r.status).toBe(200);
    const t = Number(r.text);
    expect(r.header('x-last-modified')).toBe(r.text);
    r = await c.post('/storage/bookmarks', [{ id: 'a', payload: 'x', sortindex: 3 }, { id: 'b', payload: 'y' }]);
    expect(r.status).toBe(200);
    expect(r.json().success).toEqual(['a', 'b']);
    r = await c.get('/storage/bookmarks?full=1&sort=index');
    expect(r.json().map((b: any) => b.id)).toEqual(['a', 'b']);
    r = await c.get('/info/collections');
    expect(Object.keys(r.json()).sort()).toEqual(['bookmarks', 'meta']);
    expect(r.json().meta).toBe(t);
  });
});
