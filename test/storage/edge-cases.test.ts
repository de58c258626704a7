import { describe, expect, it } from 'vitest';
import { StorageClient } from '../helpers/client.js';
import { testEngines, useServer } from '../helpers/server.js';

// Behaviours beyond the upstream catalogue that Foxden promises in its README.

describe.each(await testEngines())('storage edge cases (%s)', (engine) => {
  const server = useServer(engine);

  it('an ids filter naming nothing matches nothing', async () => {
    const c = new StorageClient(server);
    await c.post('/storage/forms', [{ id: 'a', payload: 'x' }]);
    for (const ids of ['', ',', ',,%20,']) {
      const r = await c.get(`/storage/forms?ids=${ids}`);
      expect(r.status).toBe(200);
      expect(r.json()).toEqual([]);
      expect(r.header('x-weave-records')).toBe('0');
    }
  });

  it('paging by time stays complete and free of repeats while records are added between pages', async () => {
    const c = new StorageClient(server);
    await c.post('/storage/history', Array.from({ length: 10 }, (_, i) => ({ id: `old${i}`, payload: 'x' })));
    let r = await c.get('/storage/history?sort=oldest&limit=4');
    const seen: string[] = r.json();
    let offset = r.header('x-weave-next-offset');
    // New records land after page one; they are newer, so they come at the end of an oldest-first walk.
    await c.post('/storage/history', [{ id: 'new0', payload: 'y' }]);
    while (offset) {
      r = await c.get(`/storage/history?sort=oldest&limit=4&offset=${encodeURIComponent(offset)}`);
      seen.push(...r.json());
      offset = r.header('x-weave-next-offset');
    }
    expect(seen.filter((id) => id.startsWith('old')).sort()).toEqual(Array.from({ length: 10 }, (_, i) => `old${i}`).sort());
    expect(new Set(seen).size).toBe(seen.length);
    expect(seen[seen.length - 1]).toBe('new0');
  });

  it('a PUT takes its id from the URL, whatever the body says', async () => {
    const c = new StorageClient(server);
    expect((await c.put('/storage/prefs/url-id', { id: 'body-id', payload: 'p' })).status).toBe(200);
    expect((await c.get('/storage/prefs/url-id')).json().id).toBe('url-id');
    expect((await c.get('/storage/prefs/body-id')).status).toBe(404);
  });

  it('a record id with percent-encoded characters round-trips', async () => {
    const c = new StorageClient(server);
    const id = 'a/b c?d';
    expect((await c.put(`/storage/prefs/${encodeURIComponent(id)}`, { payload: 'p' })).status).toBe(200);
    expect((await c.get(`/storage/prefs/${encodeURIComponent(id)}`)).json()).toMatchObject({ id, payload: 'p' });
    expect((await c.get('/storage/prefs')).json()).toContain(id);
  });

  it('unknown batch ids of any shape are refused with 400 and body 0', async () => {
    const c = new StorageClient(server);
    await c.post('/storage/tabs', [{ id: 't', payload: 'x' }]);
    for (const id of ['12345', 'not-a-batch', '00000000-0000-0000-0000-000000000000']) {
      const r = await c.post(`/storage/tabs?batch=${id}`, [{ id: 'u', payload: 'y' }]);
      expect(r.status).toBe(400);
      expect(r.text).toBe('0');
    }
    expect((await c.get('/storage/tabs')).json()).toEqual(['t']);
  });
});
