import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LOCAL_NODE_SECRET, syncNodes } from '../../src/tokenserver/nodes.js';
import { StorageClient } from '../helpers/client.js';
import { createTestDatabase } from '../helpers/postgres.js';
import { startServer, testEngines, type Engine, type TestServer } from '../helpers/server.js';
import {
  addUser,
  authHeaders,
  EMAIL_DOMAIN,
  error,
  getToken,
  makeSigningKey,
  serviceId,
  signJwt,
  startFakeFxa,
  tokenPayload,
  UNAUTHORIZED,
  type FakeFxa,
} from './support.js';

// Storage nodes: the start-up sync of this server's node and FOXDEN_SYNC_NODES, renaming this
// server's node when its URL changes, and deleting replaced users' data on a remote node (a
// second Foxden, sharing the master secret). The remote one also runs with new users
// disallowed and a JWKS without a usable key.

const fxa: FakeFxa = await startFakeFxa();
afterAll(() => fxa.close());
const newFxaUid = () => randomBytes(16).toString('hex');
const verifier = { FOXDEN_FXA_VERIFY_URL: `${fxa.url}/v1/verify`, FOXDEN_FXA_EMAIL_DOMAIN: EMAIL_DOMAIN, FOXDEN_FXA_OAUTH_REQUEST_TIMEOUT: 2 };

async function localNodeSecret(server: TestServer): Promise<string | undefined> {
  const row = await server.app.database.db.selectFrom('foxden_secrets').select('value').where('name', '=', LOCAL_NODE_SECRET).executeTakeFirst();
  return row?.value;
}

describe.each(await testEngines())('tokenserver nodes (%s)', (engine) => {
  let remote: TestServer; // "B": a storage node of A's, with its own (closed) tokenserver
  let main: TestServer; // "A": the tokenserver under test
  beforeAll(async () => {
    remote = await startServer(engine, { ...verifier, FOXDEN_FXA_JWKS_URL: `${fxa.url}/bad/v1/jwks`, FOXDEN_ALLOW_NEW_USERS: 'false' });
    main = await startServer(engine, { ...verifier, FOXDEN_FXA_JWKS_URL: `${fxa.url}/v1/jwks`, FOXDEN_SYNC_NODES: `${remote.url}=10`, FOXDEN_NODE_CAPACITY: 50 });
  });
  afterAll(async () => {
    await main?.close();
    await remote?.close();
  });
  const db = () => main.app.database.db;
  const nodes = () => db().selectFrom('nodes').selectAll().orderBy('id').execute();

  it('start-up: this server\u2019s node and each FOXDEN_SYNC_NODES entry are in the table, and the local one is remembered', async () => {
    const localId = main.app.tokenserver.localNodeId;
    const rows = await nodes();
    expect(rows).toHaveLength(2);
    expect(rows.find((n) => n.id === localId)).toMatchObject({ node: 'http://127.0.0.1:0', capacity: 50, available: 50, current_load: 0, downed: 0, backoff: 0 });
    expect(rows.find((n) => n.id !== localId)).toMatchObject({ node: remote.url, capacity: 10, available: 10, current_load: 0 });
    expect(await localNodeSecret(main)).toBe(String(localId));
  });

  it('syncNodes: a new URL renames this server\u2019s row; capacities follow the configuration; new nodes are added, none removed', async () => {
    const sid = await serviceId(db());
    const localId = main.app.tokenserver.localNodeId;
    const result = await syncNodes(main.app.database, sid, {
      local: { url: 'https://sync.example.test', capacity: 60 },
      nodes: [
        { url: remote.url, capacity: 20 },
        { url: 'https://extra.example.test', capacity: 5 },
      ],
    });
    expect(result.localNodeId).toBe(localId);
    let rows = await nodes();
    expect(rows.find((n) => n.id === localId)).toMatchObject({ node: 'https://sync.example.test', capacity: 60, available: 50 });
    expect(rows.find((n) => n.node === remote.url)).toMatchObject({ capacity: 20, available: 10 });
    expect(rows.find((n) => n.node === 'https://extra.example.test')).toMatchObject({ capacity: 5, available: 5, current_load: 0 });

    // The server's own configuration again: renamed back; the extra node stays.
    await main.app.tokenserver.syncNodes();
    rows = await nodes();
    expect(rows.find((n) => n.id === localId)).toMatchObject({ node: 'http://127.0.0.1:0', capacity: 50 });
    expect(rows.find((n) => n.node === remote.url)).toMatchObject({ capacity: 10 });
    expect(rows).toHaveLength(3);
    await db().deleteFrom('nodes').where('node', '=', 'https://extra.example.test').execute();
  });

  it('syncNodes: a remembered row that is gone is added again; an existing row with the URL is adopted', async () => {
    const sid = await serviceId(db());
    const oldId = main.app.tokenserver.localNodeId;
    await db().deleteFrom('nodes').where('id', '=', oldId).execute();
    const { localNodeId } = await main.app.tokenserver.syncNodes();
    expect(localNodeId).not.toBe(oldId);
    expect(main.app.tokenserver.localNodeId).toBe(localNodeId);
    expect(await localNodeSecret(main)).toBe(String(localNodeId));
    expect((await nodes()).find((n) => n.id === localNodeId)).toMatchObject({ node: 'http://127.0.0.1:0', capacity: 50, available: 50 });

    // This server now says it is the remote's URL: that row is adopted, the old one left alone.
    const adopted = await syncNodes(main.app.database, sid, { local: { url: remote.url, capacity: 10 }, nodes: [] });
    expect(adopted.localNodeId).toBe((await nodes()).find((n) => n.node === remote.url)!.id);
    expect((await nodes()).find((n) => n.id === localNodeId)?.node).toBe('http://127.0.0.1:0');
    await main.app.tokenserver.syncNodes();
    expect(main.app.tokenserver.localNodeId).toBe(localNodeId);
  });

  it('purgeRemote: a replaced user\u2019s data on a remote node is deleted with a Hawk-signed DELETE', async () => {
    const localId = main.app.tokenserver.localNodeId;
    await db().updateTable('nodes').set({ downed: 1 }).where('id', '=', localId).execute();
    try {
      const fxaUid = newFxaUid();
      const first = await getToken(main, authHeaders({ user: fxaUid, generation: 1234, keysChangedAt: 1234, clientState: 'aaaa' }));
      expect(first.status, first.text).toBe(200);
      expect(first.json.api_endpoint).toBe(`${remote.url}/1.5/${first.json.uid}`);
      const old = new StorageClient(remote, first.json.uid, { id: first.json.id, key: first.json.key, payload: tokenPayload(first.json.id) as any });
      expect((await old.put('/storage/bookmarks/a', { payload: 'data' })).status).toBe(200);

      const second = await getToken(main, authHeaders({ user: fxaUid, generation: 1300, keysChangedAt: 1300, clientState: 'bbbb' }));
      expect(second.status, second.text).toBe(200);
      expect(second.json.uid).not.toBe(first.json.uid);
      const queued = await db().selectFrom('node_purges').selectAll().execute();
      expect(queued).toEqual([expect.objectContaining({ uid: first.json.uid, node: remote.url, fxa_uid: fxaUid, attempts: 0 })]);
      // Still there until the purge job runs.
      expect((await old.get('/info/collections')).json()).toHaveProperty('bookmarks');

      expect(await main.app.tokenserver.purgeRemote()).toBe(1);
      expect((await old.get('/info/collections')).json()).toEqual({});
      expect((await old.get('/storage/bookmarks')).json()).toEqual([]);
      // The remote node cannot tell the uid is retired: a token from before may still write
      // there, so the entry stays for one more sweep once every such token has expired.
      const [kept] = await db().selectFrom('node_purges').selectAll().execute();
      expect(kept).toMatchObject({ uid: first.json.uid, attempts: 0 });
      expect(Number(kept!.next_attempt_at)).toBe(Number(kept!.queued_at) + (3600 + 60) * 1000);
      expect(await main.app.tokenserver.purgeRemote()).toBe(0);
      expect((await old.put('/storage/bookmarks/late', { payload: 'late write' })).status).toBe(200);
      await db().updateTable('node_purges').set({ queued_at: Date.now() - 3700_000, next_attempt_at: Date.now() - 1 }).execute();
      expect(await main.app.tokenserver.purgeRemote()).toBe(1);
      expect(await db().selectFrom('node_purges').selectAll().execute()).toEqual([]);
      expect((await old.get('/storage/bookmarks')).json()).toEqual([]);
    } finally {
      await db().updateTable('nodes').set({ downed: 0 }).where('id', '=', localId).execute();
    }
  });

  it('purgeRemote: an unreachable node is retried later; a 404 counts as done', async () => {
    const now = Date.now();
    await db()
      .insertInto('node_purges')
      .values([
        { uid: 900001, node: 'http://127.0.0.1:1', fxa_uid: newFxaUid(), queued_at: now, attempts: 0, next_attempt_at: now },
        { uid: 900002, node: fxa.url, fxa_uid: newFxaUid(), queued_at: now, attempts: 0, next_attempt_at: now },
      ])
      .execute();
    expect(await main.app.tokenserver.purgeRemote()).toBe(1);
    const left = await db().selectFrom('node_purges').selectAll().orderBy('uid').execute();
    expect(left).toHaveLength(2);
    expect(left[0]).toMatchObject({ uid: 900001, attempts: 1 });
    expect(left[0]!.next_attempt_at).toBeGreaterThan(Date.now() + 30_000);
    // The 404 was a success: only the final sweep, after the tokens' lifetime, is left.
    expect(left[1]).toMatchObject({ uid: 900002, attempts: 0, next_attempt_at: now + (3600 + 60) * 1000 });
    // Not due yet: left alone.
    expect(await main.app.tokenserver.purgeRemote()).toBe(0);
    expect((await db().selectFrom('node_purges').select('attempts').where('uid', '=', 900001).executeTakeFirstOrThrow()).attempts).toBe(1);
    await db().deleteFrom('node_purges').execute();
  });

  it('FOXDEN_ALLOW_NEW_USERS=false: a new user gets 403 new-users-disabled, a known one is served (opaque tokens pass an unusable JWKS)', async () => {
    const r = await getToken(remote, authHeaders({ user: newFxaUid(), generation: 1234, keysChangedAt: 1234 }));
    expect(r.status).toBe(403);
    expect(r.json).toEqual(error('new-users-disabled', 'body', '', 'New users are not allowed'));
    expect(r.headers.get('content-type')).toMatch(/^application\/json/);

    const known = newFxaUid();
    const uid = await addUser(remote.app.database.db, { email: `${known}@${EMAIL_DOMAIN}`, nodeid: remote.app.tokenserver.localNodeId });
    const ok = await getToken(remote, authHeaders({ user: known, generation: 1234, keysChangedAt: 1234 }));
    expect(ok.status, ok.text).toBe(200);
    expect(ok.json.uid).toBe(uid);
    expect(ok.json.api_endpoint).toBe(`${remote.url}/1.5/${uid}`);
  });

  it('a JWT, with no usable key in the JWKS, goes to the verify endpoint (which refuses it)', async () => {
    const calls = fxa.verifyCalls;
    const jwt = await signJwt(await makeSigningKey('k'), { sub: newFxaUid() });
    const r = await getToken(remote, { authorization: `Bearer ${jwt}`, 'x-keyid': '1234-qqo' });
    expect(r.status).toBe(401);
    expect(r.json).toEqual(UNAUTHORIZED('invalid-credentials'));
    expect(fxa.verifyCalls).toBe(calls + 1);
  });
});

describe.each(await testEngines())('tokenserver node rename across a restart (%s)', (engine: Engine) => {
  let dataDir: string | undefined;
  let pg: { url: string; drop: () => Promise<void> } | undefined;
  beforeAll(async () => {
    if (engine === 'postgres') pg = await createTestDatabase();
    else dataDir = mkdtempSync(join(tmpdir(), 'foxden-test-'));
  });
  afterAll(async () => {
    await pg?.drop();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });
  const shared = () => (pg ? { FOXDEN_DATABASE_URL: pg.url } : { FOXDEN_DATA_DIR: dataDir! });

  it('FOXDEN_PUBLIC_URL changes: the same row is renamed and its users follow', async () => {
    const before = await startServer(engine, { ...shared(), ...verifier, FOXDEN_PUBLIC_URL: 'https://old.example.test' });
    const fxaUid = newFxaUid();
    let uid: number;
    let nodeId: number;
    try {
      nodeId = before.app.tokenserver.localNodeId;
      uid = await addUser(before.app.database.db, { email: `${fxaUid}@${EMAIL_DOMAIN}`, nodeid: nodeId });
    } finally {
      await before.close();
    }
    const after = await startServer(engine, { ...shared(), ...verifier, FOXDEN_PUBLIC_URL: 'https://new.example.test/foxden/' });
    try {
      expect(after.app.tokenserver.localNodeId).toBe(nodeId);
      const rows = await after.app.database.db.selectFrom('nodes').select(['id', 'node']).execute();
      expect(rows).toEqual([{ id: nodeId, node: 'https://new.example.test/foxden' }]);
      const r = await getToken(after, authHeaders({ user: fxaUid, generation: 1234, keysChangedAt: 1234 }));
      expect(r.status, r.text).toBe(200);
      expect(r.json.uid).toBe(uid);
      expect(r.json.api_endpoint).toBe(`https://new.example.test/foxden/1.5/${uid}`);
      expect(tokenPayload(r.json.id).node).toBe('https://new.example.test/foxden');
    } finally {
      await after.close();
    }
  });
});
