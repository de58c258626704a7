import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { hawkHeader, payloadHash } from '../../src/crypto/hawk.js';
import type { Token } from '../../src/crypto/tokenlib.js';
import { StorageClient, mintToken, ts, type Reply } from '../helpers/client.js';
import { type TestServer, testEngines, useServer } from '../helpers/server.js';

// Storage authentication (sync-storage.md 1.11, 2.2, 2.14, 6): Hawk over tokenserver tokens.

const nowSeconds = () => Math.floor(Date.now() / 1000);

function expect401(r: Reply, what = ''): void {
  expect(r.status, what).toBe(401);
  expect(r.text, what).toBe('0');
  expect(r.header('content-type') ?? '', what).toMatch(/^application\/json\b/);
}

function b64urlPadded(buf: Buffer): string {
  const s = buf.toString('base64url');
  return s + '='.repeat((4 - (s.length % 4)) % 4);
}

/** The token id with its JSON payload edited but the original signature kept. */
function tamper(token: Token, edit: (payload: Record<string, unknown>) => void): Token {
  const raw = Buffer.from(token.id, 'base64url');
  const body = raw.subarray(0, raw.length - 32);
  const mac = raw.subarray(raw.length - 32);
  const payload = JSON.parse(body.toString('utf8'));
  edit(payload);
  const id = b64urlPadded(Buffer.concat([Buffer.from(JSON.stringify(payload), 'utf8'), mac]));
  return { id, key: token.key, payload };
}

interface SignAs {
  /** What the client signs: request target, host and port as it saw them. */
  resource: string;
  host: string;
  port: number;
}

interface SendOptions {
  body?: string;
  contentType?: string;
  ts?: number;
  nonce?: string;
  hash?: string;
  headers?: Record<string, string>;
}

/** Send `method target` to the server, signed for `as` (which may differ from what is sent). */
async function signedFetch(server: TestServer, method: string, target: string, as: SignAs, token: Token, opts: SendOptions = {}): Promise<Reply> {
  const headers: Record<string, string> = { ...opts.headers };
  if (opts.body !== undefined) headers['content-type'] = opts.contentType ?? 'application/json';
  headers.authorization = hawkHeader(
    { method, resource: as.resource, host: as.host, port: as.port },
    { id: token.id, key: token.key, ts: opts.ts, nonce: opts.nonce, hash: opts.hash },
  );
  return rawFetch(server, method, target, headers, opts.body);
}

async function rawFetch(server: TestServer, method: string, target: string, headers: Record<string, string>, body?: string): Promise<Reply> {
  const res = await fetch(server.url + target, { method, headers, body });
  const text = await res.text();
  return { status: res.status, headers: res.headers, text, json: () => JSON.parse(text), header: (n) => res.headers.get(n) };
}

describe.each(await testEngines())('storage auth (%s)', (engine) => {
  const server = useServer(engine);

  /** A client with one stored record, to check rejected writes change nothing. */
  async function seeded(): Promise<{ c: StorageClient; t: number }> {
    const c = new StorageClient(server);
    const r = await c.put('/storage/col/item', { payload: 'original' });
    expect(r.status).toBe(200);
    return { c, t: ts(r.header('x-last-modified')) };
  }

  async function expectUnchanged(c: StorageClient, t: number): Promise<void> {
    const r = await c.get('/storage/col?full=1');
    expect(r.status).toBe(200);
    expect(r.json()).toEqual([{ id: 'item', modified: t, payload: 'original' }]);
    expect((await c.get('/info/collections')).json()).toEqual({ col: t });
  }

  /** Every kind of request, so a rejection is shown everywhere. */
  function everyRequest(c: StorageClient): [string, string, string | undefined][] {
    const base = c.endpoint();
    return [
      ['GET', `${base}/info/collections`, undefined],
      ['GET', `${base}/info/collection_counts`, undefined],
      ['GET', `${base}/info/quota`, undefined],
      ['GET', `${base}/storage/col`, undefined],
      ['GET', `${base}/storage/col/item`, undefined],
      ['PUT', `${base}/storage/col/item`, JSON.stringify({ payload: 'changed' })],
      ['POST', `${base}/storage/col`, JSON.stringify([{ id: 'item', payload: 'changed' }, { id: 'new', payload: 'x' }])],
      ['DELETE', `${base}/storage/col/item`, undefined],
      ['DELETE', `${base}/storage/col`, undefined],
      ['DELETE', `${base}/storage`, undefined],
    ];
  }

  it('a request without Authorization header gets 401 body 0 everywhere', async () => {
    const { c, t } = await seeded();
    for (const [method, path, body] of everyRequest(c)) {
      expect401(await c.raw(method, path, { body, unsigned: true }), `${method} ${path}`);
    }
    await expectUnchanged(c, t);
  });

  it('a malformed Authorization header gets 401', async () => {
    const { c, t } = await seeded();
    const good = hawkHeader(
      { method: 'GET', resource: c.endpoint('/storage/col'), host: server.host, port: server.port },
      { id: c.token.id, key: c.token.key },
    );
    const headers = [
      'Hawk',
      'Hawk ',
      'Bearer abcdef',
      `Basic ${Buffer.from('user:pass').toString('base64')}`,
      'Hawk id="abc"',
      `Hawk id="${c.token.id}", ts="${nowSeconds()}", nonce="abc"`,
      `Hawk id="${c.token.id}", ts="soon", nonce="abc", mac="AAAA"`,
      `Hawk id="${c.token.id}", ts="${nowSeconds()}", nonce="abc", mac="AAAA`,
      'Hawk id="not a token", ts="1", nonce="n", mac="m"',
      good.replace(/^Hawk /, 'Hawk garbage '),
      good.replace(/mac="[^"]*"/, 'mac=""'),
      good.replace(/^Hawk /, ''),
    ];
    for (const authorization of headers) {
      expect401(await rawFetch(server, 'GET', c.endpoint('/storage/col'), { authorization }), authorization);
      expect401(
        await rawFetch(server, 'PUT', c.endpoint('/storage/col/item'), { authorization, 'content-type': 'application/json' }, '{"payload":"changed"}'),
        authorization,
      );
    }
    await expectUnchanged(c, t);
  });

  it('a token signed with another secret gets 401', async () => {
    const { c, t } = await seeded();
    const foreign = mintToken(c.uid, {}, 'some-other-master-secret-0123456789');
    for (const [method, path, body] of everyRequest(c)) {
      expect401(await c.raw(method, path, { body, token: foreign }), `${method} ${path}`);
    }
    await expectUnchanged(c, t);
  });

  it('a tampered token gets 401', async () => {
    const { c, t } = await seeded();
    const victim = new StorageClient(server);
    expect((await victim.put('/storage/col/item', { payload: 'victim' })).status).toBe(200);

    // Payload edited, signature kept: another uid, a later expiry.
    const otherUid = tamper(c.token, (p) => (p.uid = victim.uid));
    expect401(await victim.get('/storage/col/item', { token: otherUid }), 'uid changed');
    expect401(await victim.put('/storage/col/item', { payload: 'stolen' }, { token: otherUid }), 'uid changed');
    const expired = mintToken(c.uid, { expires: nowSeconds() - 600 });
    const revived = tamper(expired, (p) => (p.expires = nowSeconds() + 600));
    expect401(await c.get('/storage/col', { token: revived }), 'expiry changed');

    // Signature bytes flipped, or cut short.
    const raw = Buffer.from(c.token.id, 'base64url');
    raw[raw.length - 1]! ^= 1;
    const flipped = { ...c.token, id: b64urlPadded(raw) };
    expect401(await c.get('/storage/col', { token: flipped }), 'signature flipped');
    const short = { ...c.token, id: b64urlPadded(Buffer.from(c.token.id, 'base64url').subarray(0, 20)) };
    expect401(await c.get('/storage/col', { token: short }), 'truncated');
    // A valid token id with a key that does not belong to it.
    const wrongKey = { ...c.token, key: mintToken(c.uid).key };
    expect401(await c.get('/storage/col', { token: wrongKey }), 'wrong key');

    await expectUnchanged(c, t);
    expect((await victim.get('/storage/col/item')).json().payload).toBe('victim');
  });

  it('an expired token gets 401 everywhere except GET info/collections within the grace period', async () => {
    const { c, t } = await seeded();
    for (const age of [5, 60, 7000]) {
      const expired = mintToken(c.uid, { expires: Date.now() / 1000 - age });
      for (const [method, path, body] of everyRequest(c)) {
        const r = await c.raw(method, path, { body, token: expired });
        if (method === 'GET' && path.endsWith('/info/collections')) {
          expect(r.status, `${age}s ${method} ${path}`).toBe(200);
          expect(r.json()).toEqual({ col: t });
        } else {
          expect401(r, `${age}s ${method} ${path}`);
        }
      }
    }
    // Past the default grace of 7200 s, info/collections refuses too.
    const tooOld = mintToken(c.uid, { expires: Date.now() / 1000 - 7300 });
    expect401(await c.get('/info/collections', { token: tooOld }), 'expired 7300 s ago');
    // Only the exact info/collections resource gets the exception.
    const expired = mintToken(c.uid, { expires: Date.now() / 1000 - 60 });
    expect401(await c.get('/info/collection_usage', { token: expired }), 'collection_usage');
    expect401(await c.get('/storage/col/item', { token: expired }), 'item');
    await expectUnchanged(c, t);
  });

  it('a Hawk ts outside FOXDEN_HAWK_SKEW_SECONDS (900) gets 401, inside is accepted', async () => {
    const { c, t } = await seeded();
    for (const skew of [-1000, 1000, -86400]) {
      expect401(await c.get('/storage/col', { ts: nowSeconds() + skew }), `skew ${skew}`);
      expect401(await c.put('/storage/col/item', { payload: 'changed' }, { ts: nowSeconds() + skew }), `skew ${skew}`);
    }
    await expectUnchanged(c, t);
    for (const skew of [-800, 800]) {
      const r = await c.get('/storage/col', { ts: nowSeconds() + skew });
      expect(r.status, `skew ${skew}`).toBe(200);
    }
  });

  it('an exact replay of a signed request gets 401 the second time', async () => {
    const { c, t } = await seeded();
    const fixed = { ts: nowSeconds(), nonce: randomBytes(6).toString('base64') };
    let r = await c.get('/storage/col/item', fixed);
    expect(r.status).toBe(200);
    expect401(await c.get('/storage/col/item', fixed), 'replayed GET');

    // A replayed DELETE must not delete again.
    const del = { ts: nowSeconds(), nonce: randomBytes(6).toString('base64') };
    r = await c.delete('/storage/col/item', del);
    expect(r.status).toBe(200);
    r = await c.put('/storage/col/item', { payload: 'original' });
    expect(r.status).toBe(200);
    const t2 = ts(r.header('x-last-modified'));
    expect(t2).toBeGreaterThan(t);
    expect401(await c.delete('/storage/col/item', del), 'replayed DELETE');
    r = await c.get('/storage/col/item');
    expect(r.json()).toEqual({ id: 'item', modified: t2, payload: 'original' });
  });

  it('a wrong MAC gets 401', async () => {
    const { c, t } = await seeded();
    const path = c.endpoint('/storage/col/item');
    const good = hawkHeader({ method: 'PUT', resource: path, host: server.host, port: server.port }, { id: c.token.id, key: c.token.key });
    const bad = good.replace(/mac="[^"]*"/, `mac="${randomBytes(32).toString('base64')}"`);
    expect401(await rawFetch(server, 'PUT', path, { authorization: bad, 'content-type': 'application/json' }, '{"payload":"changed"}'));
    // The right MAC with a character changed.
    const m = /mac="([^"]*)"/.exec(good)![1]!;
    const altered = good.replace(m, (m[0] === 'A' ? 'B' : 'A') + m.slice(1));
    expect401(await rawFetch(server, 'PUT', path, { authorization: altered, 'content-type': 'application/json' }, '{"payload":"changed"}'));
    await expectUnchanged(c, t);
  });

  it('a MAC computed for another host, port, path, query or method gets 401', async () => {
    const { c, t } = await seeded();
    const path = c.endpoint('/storage/col/item');
    const body = JSON.stringify({ payload: 'changed' });
    const right: SignAs = { resource: path, host: server.host, port: server.port };
    const wrong: [string, string, SignAs][] = [
      ['host', 'PUT', { ...right, host: 'example.com' }],
      ['host localhost', 'PUT', { ...right, host: 'localhost' }],
      ['port', 'PUT', { ...right, port: server.port + 1 }],
      ['default port', 'PUT', { ...right, port: 80 }],
      ['path', 'PUT', { ...right, resource: c.endpoint('/storage/col/other') }],
      ['query', 'PUT', { ...right, resource: `${path}?x=1` }],
      ['method', 'GET', right],
    ];
    for (const [what, signedMethod, as] of wrong) {
      const headers: Record<string, string> = {
        'content-type': 'application/json',
        authorization: hawkHeader({ method: signedMethod, ...as }, { id: c.token.id, key: c.token.key }),
      };
      expect401(await rawFetch(server, 'PUT', path, headers, body), what);
    }
    // A query the client did not sign.
    expect401(await signedFetch(server, 'GET', `${c.endpoint('/storage/col')}?full=1`, { ...right, resource: c.endpoint('/storage/col') }, c.token), 'unsigned query');
    await expectUnchanged(c, t);
    // The same request signed correctly goes through.
    const r = await signedFetch(server, 'PUT', path, right, c.token, { body });
    expect(r.status).toBe(200);
  });

  it('a token whose uid differs from the URL uid gets 401', async () => {
    const { c, t } = await seeded();
    const me = new StorageClient(server);
    for (const [method, path, body] of everyRequest(c)) {
      expect401(await c.raw(method, path, { body, token: me.token }), `${method} ${path}`);
    }
    await expectUnchanged(c, t);
    expect((await me.get('/info/collections')).json()).toEqual({});
  });

  it('a payload hash that does not match the body gets 401; a correct one is accepted', async () => {
    const { c, t } = await seeded();
    const wrongHash = payloadHash('application/json', '{"payload":"something else"}');
    expect401(await c.put('/storage/col/item', { payload: 'changed' }, { hash: wrongHash }), 'PUT');
    expect401(await c.post('/storage/col', [{ id: 'item', payload: 'changed' }], { hash: wrongHash }), 'POST');
    expect401(await c.put('/storage/col/item', { payload: 'changed' }, { hash: 'not-a-hash' }), 'garbage hash');
    // Hash over the right body but another content type.
    const otherType = payloadHash('text/plain', JSON.stringify({ payload: 'changed' }));
    expect401(await c.put('/storage/col/item', { payload: 'changed' }, { hash: otherType }), 'content type');
    await expectUnchanged(c, t);

    let r = await c.put('/storage/col/item', { payload: 'changed' }, { hash: true });
    expect(r.status).toBe(200);
    r = await c.post('/storage/col', [{ id: 'two', payload: 'second' }], { hash: true });
    expect(r.status).toBe(200);
    expect(r.json().success).toEqual(['two']);
    r = await c.get('/storage/col?full=1&sort=oldest');
    expect(r.json().map((b: any) => b.payload)).toEqual(['changed', 'second']);
  });

  it('info/configuration is served without auth', async () => {
    const c = new StorageClient(server);
    const r = await c.get('/info/configuration', { unsigned: true });
    expect(r.status).toBe(200);
    expect(r.header('content-type') ?? '').toMatch(/^application\/json\b/);
    const body = r.json();
    for (const key of ['max_post_records', 'max_post_bytes', 'max_record_payload_bytes', 'max_request_bytes', 'max_total_records', 'max_total_bytes']) {
      expect(Number.isInteger(body[key]), key).toBe(true);
    }
    // Signed works too.
    expect((await c.get('/info/configuration')).json()).toEqual(body);
  });
});

describe.each(await testEngines())('storage auth with other skew and grace settings (%s)', (engine) => {
  const server = useServer(engine, { FOXDEN_HAWK_SKEW_SECONDS: 60, FOXDEN_EXPIRED_TOKEN_GRACE_SECONDS: 300 });

  it('FOXDEN_HAWK_SKEW_SECONDS and FOXDEN_EXPIRED_TOKEN_GRACE_SECONDS are honoured', async () => {
    const c = new StorageClient(server);
    expect((await c.put('/storage/col/item', { payload: 'x' })).status).toBe(200);
    expect401(await c.get('/storage/col', { ts: nowSeconds() - 120 }), 'ts 120 s old');
    expect401(await c.get('/storage/col', { ts: nowSeconds() + 120 }), 'ts 120 s ahead');
    expect((await c.get('/storage/col', { ts: nowSeconds() - 30 })).status).toBe(200);

    const recent = mintToken(c.uid, { expires: Date.now() / 1000 - 200 });
    expect((await c.get('/info/collections', { token: recent })).status).toBe(200);
    expect401(await c.get('/storage/col', { token: recent }), 'storage with expired token');
    const old = mintToken(c.uid, { expires: Date.now() / 1000 - 400 });
    expect401(await c.get('/info/collections', { token: old }), 'past the 300 s grace');
  });
});

describe.each(await testEngines())('storage auth behind FOXDEN_PUBLIC_URL (%s)', (engine) => {
  const PUBLIC = { host: 'sync.example.com', port: 443, prefix: '/foxden' };
  const server = useServer(engine, { FOXDEN_PUBLIC_URL: 'https://sync.example.com/foxden' });

  /** What the client signs: the public host, port 443 and the prefixed path. */
  const publicAs = (path: string): SignAs => ({ resource: PUBLIC.prefix + path, host: PUBLIC.host, port: PUBLIC.port });

  it('a request signed for the public URL works with or without the path prefix', async () => {
    const c = new StorageClient(server);
    const item = c.endpoint('/storage/col/item');
    const info = c.endpoint('/info/collections');

    // Prefix kept (a proxy that forwards the path as is).
    let r = await signedFetch(server, 'PUT', PUBLIC.prefix + item, publicAs(item), c.token, { body: JSON.stringify({ payload: 'via prefix' }) });
    expect(r.status).toBe(200);
    const t1 = ts(r.header('x-last-modified'));
    r = await signedFetch(server, 'GET', PUBLIC.prefix + item, publicAs(item), c.token);
    expect(r.status).toBe(200);
    expect(r.json()).toEqual({ id: 'item', modified: t1, payload: 'via prefix' });

    // Prefix stripped (a proxy that removes it).
    r = await signedFetch(server, 'GET', item, publicAs(item), c.token);
    expect(r.status).toBe(200);
    expect(r.json().payload).toBe('via prefix');
    r = await signedFetch(server, 'PUT', item, publicAs(item), c.token, { body: JSON.stringify({ payload: 'stripped' }) });
    expect(r.status).toBe(200);
    const t2 = ts(r.header('x-last-modified'));

    // With a query string, both ways.
    const coll = `${c.endpoint('/storage/col')}?full=1`;
    for (const target of [PUBLIC.prefix + coll, coll]) {
      r = await signedFetch(server, 'GET', target, publicAs(coll), c.token);
      expect(r.status, target).toBe(200);
      expect(r.json(), target).toEqual([{ id: 'item', modified: t2, payload: 'stripped' }]);
    }
    for (const target of [PUBLIC.prefix + info, info]) {
      r = await signedFetch(server, 'GET', target, publicAs(info), c.token);
      expect(r.status, target).toBe(200);
      expect(r.json(), target).toEqual({ col: t2 });
    }
  });

  it('a request signed with the local host and port, or without the prefix, gets 401', async () => {
    const c = new StorageClient(server);
    const item = c.endpoint('/storage/col/item');
    const body = JSON.stringify({ payload: 'x' });
    expect((await signedFetch(server, 'PUT', item, publicAs(item), c.token, { body })).status).toBe(200);
    const t = ts((await signedFetch(server, 'GET', item, publicAs(item), c.token)).header('x-last-modified'));

    const local: SignAs = { resource: item, host: server.host, port: server.port };
    const attempts: [string, string, SignAs][] = [
      ['local, sent stripped', item, local],
      ['local, sent prefixed', PUBLIC.prefix + item, { ...local, resource: PUBLIC.prefix + item }],
      ['local with the prefix, sent stripped', item, { ...local, resource: PUBLIC.prefix + item }],
      ['public host, no prefix in the signed path', item, { ...publicAs(item), resource: item }],
      ['public host, port 80', PUBLIC.prefix + item, { ...publicAs(item), port: 80 }],
      ['other host, port 443', PUBLIC.prefix + item, { ...publicAs(item), host: 'evil.example.com' }],
    ];
    for (const [what, target, as] of attempts) {
      expect401(await signedFetch(server, 'GET', target, as, c.token), `GET ${what}`);
      expect401(await signedFetch(server, 'PUT', target, as, c.token, { body: JSON.stringify({ payload: 'changed' }) }), `PUT ${what}`);
    }
    // The helper client signs the local host and port: refused as well.
    expect401(await c.get('/info/collections'), 'StorageClient');

    const r = await signedFetch(server, 'GET', item, publicAs(item), c.token);
    expect(r.json()).toEqual({ id: 'item', modified: t, payload: 'x' });
  });

  it('info/configuration is served without auth under the prefix too', async () => {
    const c = new StorageClient(server);
    for (const target of [`${PUBLIC.prefix}${c.endpoint('/info/configuration')}`, c.endpoint('/info/configuration')]) {
      const r = await rawFetch(server, 'GET', target, {});
      expect(r.status, target).toBe(200);
      expect(r.json().max_post_records, target).toBe(100);
    }
  });
});
