import { createHmac, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { deriveTokenKey, TokenVerifier } from '../../src/crypto/tokenlib.js';
import { StorageClient } from '../helpers/client.js';
import { TEST_SECRET, testEngines, useServer } from '../helpers/server.js';
import {
  addNode,
  addUser,
  authHeaders,
  countUsers,
  EMAIL_DOMAIN,
  error,
  getToken,
  keyId,
  makeSigningKey,
  MAX_GENERATION_READ,
  OLDSYNC,
  opaqueToken,
  rawGet,
  signJwt,
  startFakeFxa,
  tokenPayload,
  UNAUTHORIZED,
  type FakeFxa,
  type SigningKey,
} from './support.js';

// The token route beyond the upstream catalogue: the token and key as tokenlib checks them,
// this server's own OAuth tokens, Method 1 (JWKS and verify endpoint), header parsing, and
// what replacing or retiring a user does to its storage.

const METRICS_SECRET = 'metrics-secret-for-tests';
const fxa: FakeFxa = await startFakeFxa();
const fxaKey: SigningKey = await makeSigningKey('fxa-key-1');
const strangerKey: SigningKey = await makeSigningKey('fxa-key-1'); // same kid, other key
fxa.extraKeys.push(fxaKey.publicJwk);
afterAll(() => fxa.close());

const hmac32 = (msg: string) => createHmac('sha256', METRICS_SECRET).update(msg).digest('hex').slice(0, 32);
const newFxaUid = () => randomBytes(16).toString('hex');
const TOKEN_KEYS = ['node', 'fxa_kid', 'fxa_uid', 'hashed_device_id', 'hashed_fxa_uid', 'expires', 'uid', 'tokenserver_origin', 'salt'];

describe.each(await testEngines())('tokenserver requests (%s)', (engine) => {
  const server = useServer(engine, {
    FOXDEN_FXA_VERIFY_URL: `${fxa.url}/v1/verify`,
    FOXDEN_FXA_JWKS_URL: `${fxa.url}/v1/jwks`,
    FOXDEN_FXA_EMAIL_DOMAIN: EMAIL_DOMAIN,
    FOXDEN_FXA_OAUTH_REQUEST_TIMEOUT: 1,
    FOXDEN_FXA_METRICS_HASH_SECRET: METRICS_SECRET,
  });
  const db = () => server.app.database.db;
  const bearer = (token: string, kid = '1234-qqo', extra: Record<string, string> = {}) => getToken(server, { authorization: `Bearer ${token}`, 'x-keyid': kid, ...extra });
  const ownToken = async (uid: string, scope = [OLDSYNC], generation = 1234) =>
    (await server.app.accessTokens!.issue({ uid, clientId: '5882386c6d801776', scope, ttlSeconds: 600, generation, profileChangedAt: 0 })).token;

  beforeAll(async () => {
    // Only this server's own node: users land on it and their storage is this server's.
    await db().deleteFrom('nodes').where('id', '<>', server.app.tokenserver.localNodeId).execute();
  });
  beforeEach(async () => {
    await db().deleteFrom('users').execute();
    await db().deleteFrom('node_purges').execute();
  });

  describe('the answer', () => {
    it('a token of our own OAuth server: fields, headers, and a token and key as tokenlib checks them (test_valid_oauth_request)', async () => {
      const fxaUid = newFxaUid();
      const before = Math.floor(Date.now() / 1000);
      const r = await bearer(await ownToken(fxaUid), '1234-qqo', { accept: 'application/json' });
      expect(r.status, r.text).toBe(200);
      expect(r.headers.get('content-type')).toMatch(/^application\/json/);
      expect(r.headers.get('x-content-type-options')).toBe('nosniff');
      expect(Number(r.headers.get('x-timestamp'))).toBeGreaterThanOrEqual(before);
      expect(Object.keys(r.json).sort()).toEqual(['api_endpoint', 'duration', 'hashalg', 'hashed_fxa_uid', 'id', 'key', 'node_type', 'uid'].sort());
      const body = r.json;
      expect(body.hashalg).toBe('sha256');
      expect(body.duration).toBe(3600);
      expect(body.node_type).toBe(engine);
      expect(body.hashed_fxa_uid).toBe(hmac32(fxaUid));
      expect(body.api_endpoint).toBe(`${server.url}/1.5/${body.uid}`);

      // The id verifies with the master secret, its payload in syncstorage-rs's order; the key derives from it.
      const verified = new TokenVerifier([TEST_SECRET]).verify(body.id);
      expect(verified).toBeDefined();
      const payload = verified!.payload;
      expect(Object.keys(payload)).toEqual(TOKEN_KEYS);
      expect(payload).toMatchObject({
        node: server.url,
        fxa_kid: '0000000001234-qqo',
        fxa_uid: fxaUid,
        hashed_fxa_uid: hmac32(fxaUid),
        hashed_device_id: hmac32(`${hmac32(fxaUid)}none`),
        uid: body.uid,
        tokenserver_origin: 'rust',
      });
      expect(payload.salt).toMatch(/^[0-9a-f]{6}$/);
      expect(Number.isInteger(payload.expires)).toBe(true);
      expect(payload.expires - before).toBeGreaterThanOrEqual(3600);
      expect(payload.expires - before).toBeLessThanOrEqual(3602);
      expect(body.key).toBe(deriveTokenKey(TEST_SECRET, body.id, payload.salt));
      expect(body.key).toBe(verified!.key);
      expect(body.key).toHaveLength(44);

      // And storage takes it.
      const storage = new StorageClient(server, body.uid, { id: body.id, key: body.key, payload });
      expect((await storage.put('/storage/bookmarks/a', { payload: 'x' })).status).toBe(200);
      expect((await storage.get('/info/collections')).json()).toHaveProperty('bookmarks');
    });

    it('is served under /token too, and hands a user the same uid next time', async () => {
      const token = await ownToken(newFxaUid());
      const a = await getToken(server, { authorization: `Bearer ${token}`, 'x-keyid': '1234-qqo' }, '/token/1.0/sync/1.5');
      expect(a.status, a.text).toBe(200);
      const b = await bearer(token);
      expect(b.json.uid).toBe(a.json.uid);
    });

    it('concurrent first requests of one user allocate one row', async () => {
      const headers = authHeaders({ user: newFxaUid(), generation: 1234, keysChangedAt: 1234 });
      const replies = await Promise.all(Array.from({ length: 6 }, () => getToken(server, headers)));
      for (const r of replies) expect(r.status, r.text).toBe(200);
      expect(new Set(replies.map((r) => r.json.uid)).size).toBe(1);
      expect(await countUsers(db())).toBe(1);
    });

    it('duration: 0 is allowed; a repeated parameter is an unreadable query (400)', async () => {
      const headers = authHeaders({ user: newFxaUid(), generation: 1234, keysChangedAt: 1234 });
      expect((await getToken(server, headers, '/1.0/sync/1.5?duration=0')).json.duration).toBe(0);
      const r = await getToken(server, headers, '/1.0/sync/1.5?duration=10&duration=20');
      expect(r.status).toBe(400);
      expect(r.json).toEqual(error('error', 'url', '', 'invalid query params'));
    });

    it('other methods: 405 with a JSON body, Allow: GET', async () => {
      for (const method of ['POST', 'PUT', 'DELETE', 'PATCH']) {
        const r = await getToken(server, authHeaders({ generation: 1234, keysChangedAt: 1234 }), '/1.0/sync/1.5', method);
        expect(r.status, method).toBe(405);
        expect(r.headers.get('content-type')).toMatch(/^application\/json/);
        expect(r.headers.get('allow')).toBe('GET');
        expect(r.headers.get('x-content-type-options')).toBe('nosniff');
        expect(r.json.status).toBe('error');
      }
      const posted = await fetch(`${server.url}/1.0/sync/1.5`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{not json' });
      expect(posted.status).toBe(405);
      expect(posted.headers.get('content-type')).toMatch(/^application\/json/);
    });

    it('errors carry JSON, X-Timestamp and nosniff', async () => {
      const r = await getToken(server, {});
      expect(r.status).toBe(401);
      expect(r.headers.get('content-type')).toMatch(/^application\/json/);
      expect(r.headers.get('x-timestamp')).toMatch(/^\d+$/);
      expect(r.headers.get('x-content-type-options')).toBe('nosniff');
    });
  });

  describe('Authorization and the access token', () => {
    it('Authorization: no space is Unauthorized, another scheme Unsupported, the scheme is case-insensitive', async () => {
      expect((await getToken(server, { authorization: 'Bearer' })).json).toEqual(error('error', 'body', '', 'Unauthorized'));
      expect((await getToken(server, { authorization: 'BrowserID abc.def' })).json).toEqual(error('error', 'body', '', 'Unsupported'));
      const r = await getToken(server, { authorization: `bEARER ${opaqueToken({ user: newFxaUid(), generation: 1234 })}`, 'x-keyid': '1234-qqo' });
      expect(r.status, r.text).toBe(200);
    });

    it('Authorization is checked before X-KeyID, and X-KeyID before the application', async () => {
      let r = await getToken(server, { authorization: 'Hawk id="x"' }, '/1.0/nope/1.5');
      expect(r.json).toEqual(error('error', 'body', '', 'Unsupported'));
      r = await getToken(server, { authorization: `Bearer ${opaqueToken()}` }, '/1.0/nope/1.5');
      expect(r.json).toEqual(error('invalid-key-id', 'header', '', 'Missing X-KeyID header'));
    });

    it('our own token without the oldsync scope, and a random RS256 JWT, are refused (test_unauthorized_oauth_error_status)', async () => {
      const calls = fxa.verifyCalls;
      let r = await bearer(await ownToken(newFxaUid(), ['profile']));
      expect(r.status).toBe(401);
      expect(r.json).toEqual(UNAUTHORIZED('invalid-credentials'));
      r = await bearer(await signJwt(await makeSigningKey('random')));
      expect(r.status).toBe(401);
      expect(r.json).toEqual(UNAUTHORIZED('invalid-credentials'));
      // A JWT that the JWKS keys can check never goes to the verify endpoint.
      expect(fxa.verifyCalls).toBe(calls);
    });

    it('Method 1: a JWT of the external accounts server is checked against its JWKS, never sent to verify', async () => {
      const calls = fxa.verifyCalls;
      const fxaUid = newFxaUid();
      const r = await bearer(await signJwt(fxaKey, { sub: fxaUid, generation: 1500 }));
      expect(r.status, r.text).toBe(200);
      expect(tokenPayload(r.json.id).fxa_uid).toBe(fxaUid);
      const row = await db().selectFrom('users').selectAll().where('email', '=', `${fxaUid}@${EMAIL_DOMAIN}`).executeTakeFirstOrThrow();
      expect(row.generation).toBe(1500);
      expect(row.keys_changed_at).toBe(1234);
      expect(fxa.verifyCalls).toBe(calls);
    });

    it('Method 1: scopes may be space- or comma-separated', async () => {
      for (const scope of [`profile ${OLDSYNC}`, `profile,${OLDSYNC}`, OLDSYNC]) {
        const r = await bearer(await signJwt(fxaKey, { sub: newFxaUid(), scope }));
        expect(r.status, scope).toBe(200);
      }
    });

    it.each([
      ['expired', { expiresIn: -120 }],
      ['typ JWT instead of at+jwt', { typ: 'JWT' }],
      ['no typ', { typ: null }],
      ['no oldsync scope', { scope: 'profile https://identity.mozilla.com/apps/notes' }],
    ] as const)('Method 1: a JWT that is %s is refused', async (_what, options) => {
      const r = await bearer(await signJwt(fxaKey, { sub: newFxaUid(), ...options }));
      expect(r.status).toBe(401);
      expect(r.json).toEqual(UNAUTHORIZED('invalid-credentials'));
    });

    it('Method 1: a JWT with a bad signature (another key, same kid) is refused', async () => {
      const r = await bearer(await signJwt(strangerKey, { sub: newFxaUid() }));
      expect(r.status).toBe(401);
      expect(r.json).toEqual(UNAUTHORIZED('invalid-credentials'));
    });

    it('verify endpoint: its refusal, and an answer without the oldsync scope, are invalid-credentials', async () => {
      let r = await bearer(opaqueToken({ status: 401 }));
      expect(r.json).toEqual(UNAUTHORIZED('invalid-credentials'));
      r = await bearer(opaqueToken({ scope: ['profile'] }));
      expect(r.json).toEqual(UNAUTHORIZED('invalid-credentials'));
      r = await bearer('not json at all');
      expect(r.json).toEqual(UNAUTHORIZED('invalid-credentials'));
    });

    it('verify endpoint too slow: 503 Resource is not available', async () => {
      const started = Date.now();
      const r = await bearer('{"hang": true}');
      expect(r.status).toBe(503);
      expect(r.json).toEqual(error('error', 'body', '', 'Resource is not available'));
      expect(Date.now() - started).toBeLessThan(5000);
    });
  });

  describe('X-KeyID and X-Client-State', () => {
    const token = () => opaqueToken({ user: newFxaUid(), generation: 1234 });
    const credentials = UNAUTHORIZED('invalid-credentials');

    it('missing, or not ASCII: invalid-key-id', async () => {
      const missing = await getToken(server, { authorization: `Bearer ${token()}` });
      expect(missing.status).toBe(401);
      expect(missing.json).toEqual(error('invalid-key-id', 'header', '', 'Missing X-KeyID header'));
      const r = await rawGet(server, '/1.0/sync/1.5', { authorization: `Bearer ${token()}`, 'x-keyid': '1234-q\u00e9o' });
      expect(r.status).toBe(401);
      expect(r.json).toEqual(error('invalid-key-id', 'header', '', 'Invalid X-KeyID header'));
    });

    it.each([
      ['no dash', '1234qqo'],
      ['padding', '1234-qqo='],
      ['a character outside base64url', '1234-qq+o'],
      ['stray bits', '1234-qqp'],
      ['an impossible length', '1234-q'],
      ['a timestamp that is not an integer', 'abc-qqo'],
      ['a fractional timestamp', '12.5-qqo'],
      ['a timestamp past 64 bits', '99999999999999999999-qqo'],
      ['no timestamp', '-qqo'],
    ])('%s: invalid-credentials', async (_what, kid) => {
      const r = await bearer(token(), kid);
      expect(r.status).toBe(401);
      expect(r.json).toEqual(credentials);
    });

    it('splits at the first dash: the fingerprint may hold dashes', async () => {
      const r = await bearer(token(), '1234--_8');
      expect(r.status, r.text).toBe(200);
      expect(tokenPayload(r.json.id).fxa_kid).toBe('0000000001234--_8');
      const row = await db().selectFrom('users').select('client_state').where('uid', '=', r.json.uid).executeTakeFirstOrThrow();
      expect(row.client_state).toBe(Buffer.from('-_8', 'base64url').toString('hex'));
    });

    it('a timestamp of 0 means none: the token names the generation instead', async () => {
      const r = await bearer(token(), keyId(0, 'bbbb'));
      expect(r.status, r.text).toBe(200);
      expect(tokenPayload(r.json.id).fxa_kid).toBe('0000000001234-u7s');
      const row = await db().selectFrom('users').select('keys_changed_at').where('uid', '=', r.json.uid).executeTakeFirstOrThrow();
      expect(row.keys_changed_at).toBeNull();
    });

    it('with no keys_changed_at on either side, a newer generation updates the row in place', async () => {
      const fxaUid = newFxaUid();
      const uid = await addUser(db(), { email: `${fxaUid}@${EMAIL_DOMAIN}`, nodeid: server.app.tokenserver.localNodeId, generation: 1234, keys_changed_at: null });
      const r = await bearer(opaqueToken({ user: fxaUid, generation: 1300 }), keyId(0, 'aaaa'));
      expect(r.status, r.text).toBe(200);
      expect(r.json.uid).toBe(uid);
      const row = await db().selectFrom('users').selectAll().where('uid', '=', uid).executeTakeFirstOrThrow();
      expect(row).toMatchObject({ generation: 1300, keys_changed_at: null });
      expect(tokenPayload(r.json.id).fxa_kid).toBe('0000000001300-qqo');
    });

    it('X-Client-State: malformed (empty, too long, bad characters) is 400; equal to the key id is fine', async () => {
      const malformed = error('error', 'header', 'X-Client-State', 'Invalid client state value');
      for (const value of ['a'.repeat(33), 'a b', 'aa/aa']) {
        const r = await bearer(token(), '1234-qqo', { 'x-client-state': value });
        expect(r.status, value).toBe(400);
        expect(r.json).toEqual(malformed);
      }
      expect((await bearer(token(), '1234-qqo', { 'x-client-state': 'aaaa' })).status).toBe(200);
    });
  });

  describe('replaced and retired users', () => {
    const fresh = () => ({ fxaUid: newFxaUid() });
    async function tokenFor(fxaUid: string, generation: number, clientState: string) {
      const r = await getToken(server, authHeaders({ user: fxaUid, generation, keysChangedAt: generation, clientState }));
      expect(r.status, r.text).toBe(200);
      return { uid: r.json.uid as number, client: new StorageClient(server, r.json.uid, { id: r.json.id, key: r.json.key, payload: tokenPayload(r.json.id) as any }) };
    }

    it('new keys: the old uid\u2019s data on this server is deleted at once; its token reads nothing and may not write', async () => {
      const { fxaUid } = fresh();
      const before = await tokenFor(fxaUid, 1234, 'aaaa');
      expect((await before.client.put('/storage/bookmarks/a', { payload: 'old' })).status).toBe(200);
      expect((await before.client.get('/info/collections')).json()).toHaveProperty('bookmarks');

      const after = await tokenFor(fxaUid, 1300, 'bbbb');
      expect(after.uid).not.toBe(before.uid);
      // The old uid: empty, and refused writes (401 sends the client for a new token).
      expect((await before.client.get('/info/collections')).json()).toEqual({});
      expect((await before.client.get('/storage/bookmarks')).json()).toEqual([]);
      const write = await before.client.put('/storage/bookmarks/a', { payload: 'again' });
      expect(write.status).toBe(401);
      expect((await before.client.post('/storage/bookmarks', [{ id: 'b', payload: 'x' }])).status).toBe(401);
      expect((await before.client.delete('/storage')).status).toBe(401);
      // The new uid starts empty and works.
      expect((await after.client.get('/info/collections')).json()).toEqual({});
      expect((await after.client.put('/storage/bookmarks/a', { payload: 'new' })).status).toBe(200);
      // Nothing is queued for remote deletion.
      expect(await db().selectFrom('node_purges').selectAll().execute()).toEqual([]);
    });

    it('retireUser: rows get MAX_GENERATION and replaced_at, local data goes, the account gets no more tokens', async () => {
      const { fxaUid } = fresh();
      const user = await tokenFor(fxaUid, 1234, 'aaaa');
      expect((await user.client.put('/storage/tabs/t', { payload: 'x' })).status).toBe(200);
      await server.app.tokenserver.retireUser(fxaUid);

      const row = await db().selectFrom('users').selectAll().where('uid', '=', user.uid).executeTakeFirstOrThrow();
      expect(row.generation).toBe(MAX_GENERATION_READ);
      expect(row.replaced_at).not.toBeNull();
      expect((await user.client.get('/storage/tabs')).json()).toEqual([]);
      expect((await user.client.put('/storage/tabs/t', { payload: 'y' })).status).toBe(401);

      const r = await getToken(server, authHeaders({ user: fxaUid, generation: 2000, keysChangedAt: 1234 }));
      expect(r.status).toBe(401);
      expect(r.json).toEqual(UNAUTHORIZED('invalid-generation'));
      // Retiring again, or an account the tokenserver never saw, is harmless.
      await server.app.tokenserver.retireUser(fxaUid);
      await server.app.tokenserver.retireUser(newFxaUid());
    });

    it('retireUser: a row on a remote node is queued for the purge job', async () => {
      const { fxaUid } = fresh();
      const remote = await addNode(db(), { node: 'https://remote.example', capacity: 10, available: 10 });
      try {
        const uid = await addUser(db(), { email: `${fxaUid}@${EMAIL_DOMAIN}`, nodeid: remote });
        await server.app.tokenserver.retireUser(fxaUid);
        const queued = await db().selectFrom('node_purges').selectAll().execute();
        expect(queued).toHaveLength(1);
        expect(queued[0]).toMatchObject({ uid, node: 'https://remote.example', fxa_uid: fxaUid, attempts: 0 });
      } finally {
        await db().deleteFrom('nodes').where('id', '=', remote).execute();
      }
    });

    it('unsigned requests: the tokenserver and storage both answer 401', async () => {
      expect((await getToken(server, {})).status).toBe(401);
      const r = await new StorageClient(server).get('/info/collections', { unsigned: true });
      expect(r.status).toBe(401);
    });
  });
});
