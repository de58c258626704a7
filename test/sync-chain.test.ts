import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bytesToHex, hexToBytes, passwordCredentials, deriveTokenKeys, unbundleKeys, unwrapKb } from '../src/crypto/onepw.js';
import type { Token } from '../src/crypto/tokenlib.js';
import { StorageClient } from './helpers/client.js';
import { FxaClient, TestUser } from './helpers/fxa.js';
import { browserExchange, browserRequest, credentialsToken, FIREFOX, OLDSYNC, pageAuthorize, verifiedUser } from './helpers/oauth.js';
import { latestCode } from './helpers/outbox.js';
import { startServer, testEngines, type TestServer } from './helpers/server.js';
import {
  bundleFromCryptoKeys,
  bundleFromScopedKey,
  cryptoKeysRecord,
  decryptRecord,
  encryptRecord,
  randomBundle,
  type KeyBundle,
} from './helpers/sync-crypto.js';

// The whole bridge from an account to Sync records, scripted the way Firefox and the sign-in
// page do it: OAuth code with PKCE and keys_jwe, kSync and kid, an oldsync access token, the
// tokenserver, then storage with records encrypted as Firefox encrypts them.

interface Device {
  user: TestUser;
  kSync: { k: string; kid: string };
  storage: StorageClient;
  uid: number;
}

describe.each(await testEngines())('from an account to Sync records (%s)', (engine) => {
  let server: TestServer;
  let dataDir: string;

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'foxden-chain-'));
    server = await startServer(engine, { FOXDEN_DATA_DIR: dataDir, FOXDEN_REGISTRATION: 'open', FOXDEN_SIGNIN_CONFIRMATION: 'never', FOXDEN_RATE_LIMITS: 'off' });
  });
  afterAll(async () => {
    await server?.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  async function tokenserver(accessToken: string, kid: string) {
    const res = await fetch(`${server.url}/token/1.0/sync/1.5`, { headers: { authorization: `Bearer ${accessToken}`, 'x-keyid': kid, accept: 'application/json' } });
    return { status: res.status, body: await res.json(), headers: res.headers };
  }

  /** Firefox after the page's oauth_login: keys, refresh token revoked, Sync token, storage. */
  async function connect(user: TestUser, kB?: string): Promise<Device> {
    const request = await browserRequest();
    const page = await pageAuthorize(user, request, { kB });
    expect(page.res.status, JSON.stringify(page.res.body)).toBe(200);
    const { res, keys } = await browserExchange(user, request, page.res.body.code);
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    const destroyed = await new FxaClient(server.url).call('POST', '/oauth/destroy', { client_id: FIREFOX, token: res.body.refresh_token });
    expect([destroyed.status, destroyed.body]).toEqual([200, {}]);
    const kSync = keys![OLDSYNC]!;
    const sync = await credentialsToken(user, OLDSYNC, { ttl: 21600 });
    expect(sync.status).toBe(200);
    const ts = await tokenserver(sync.body.access_token, kSync.kid);
    expect(ts.status, JSON.stringify(ts.body)).toBe(200);
    expect(ts.headers.get('content-type')).toMatch(/^application\/json/);
    expect(ts.body).toMatchObject({ duration: 3600, hashalg: 'sha256' });
    expect(ts.body.api_endpoint).toBe(`${server.url}/1.5/${ts.body.uid}`);
    expect(ts.body.hashed_fxa_uid).toMatch(/^[0-9a-f]{32}$/);
    const token: Token = { id: ts.body.id, key: ts.body.key, payload: {} as Token['payload'] };
    return { user, kSync, storage: new StorageClient(server, ts.body.uid, token), uid: ts.body.uid };
  }

  /** A first sync: meta/global, crypto/keys under kSync, one bookmark under the default key. */
  async function firstSync(device: Device, title: string): Promise<KeyBundle> {
    const s = device.storage;
    expect((await s.request('GET', '/info/collections')).status).toBe(200);
    const meta = { id: 'global', payload: JSON.stringify({ syncID: 'abcdefghijkl', storageVersion: 5, declined: [] }) };
    expect((await s.request('PUT', '/storage/meta/global', { body: meta, headers: { 'x-if-unmodified-since': '0' } })).status).toBe(200);
    const bulk = randomBundle();
    const keys = { id: 'keys', payload: encryptRecord(bundleFromScopedKey(device.kSync.k), cryptoKeysRecord(bulk)) };
    expect((await s.request('PUT', '/storage/crypto/keys', { body: keys, headers: { 'x-if-unmodified-since': '0' } })).status).toBe(200);
    const bookmark = { id: 'bm1', payload: encryptRecord(bulk, { id: 'bm1', type: 'bookmark', parentid: 'toolbar', bmkUri: 'https://example.org/', title }) };
    const posted = await s.request('POST', '/storage/bookmarks?batch=true&commit=true', { body: [bookmark] });
    expect(posted.status, posted.text).toBe(200);
    expect(posted.json().success).toEqual(['bm1']);
    return bulk;
  }

  /** What another device reads: crypto/keys opened with its kSync, then the bookmark. */
  async function readBookmark(device: Device): Promise<Record<string, unknown>> {
    const keys = await device.storage.request('GET', '/storage/crypto/keys');
    expect(keys.status).toBe(200);
    const bulk = bundleFromCryptoKeys(decryptRecord(bundleFromScopedKey(device.kSync.k), keys.json().payload));
    const bm = await device.storage.request('GET', '/storage/bookmarks/bm1');
    expect(bm.status).toBe(200);
    return decryptRecord(bulk, bm.json().payload);
  }

  it('one device syncs encrypted records and a second device, signed in separately, reads them', async () => {
    const user = await verifiedUser(server, dataDir, 'chain');
    const a = await connect(user);
    expect(a.kSync.kid).toMatch(/^\d{13}-[A-Za-z0-9_-]{22}$/);
    await firstSync(a, 'From device A');

    const second = new TestUser(new FxaClient(server.url), user.email, user.password);
    expect((await second.login()).status).toBe(200);
    const b = await connect(second);
    expect(b.kSync).toEqual(a.kSync);
    expect(b.uid).toBe(a.uid);
    expect(await readBookmark(b)).toMatchObject({ id: 'bm1', title: 'From device A', bmkUri: 'https://example.org/' });
  });

  it('a password change keeps Sync going: same kid and uid; tokens older than the new generation are refused', async () => {
    const user = await verifiedUser(server, dataDir, 'changer');
    const a = await connect(user);
    await firstSync(a, 'Before the change');
    const before = (await credentialsToken(user, OLDSYNC)).body.access_token as string;
    expect((await user.changePassword('a different password')).status).toBe(200);
    const keyData = await user.call('POST', '/account/scoped-key-data', { client_id: FIREFOX, scope: OLDSYNC });
    expect(keyData.body[OLDSYNC].keyRotationTimestamp).toBe(Number(a.kSync.kid.split('-')[0]));
    const after = await credentialsToken(user, OLDSYNC);
    const ts = await tokenserver(after.body.access_token, a.kSync.kid);
    expect(ts.status, JSON.stringify(ts.body)).toBe(200);
    expect(ts.body.uid).toBe(a.uid);
    const stale = await tokenserver(before, a.kSync.kid);
    expect(stale.status).toBe(401);
    expect(stale.body.status).toBe('invalid-generation');
    expect(await readBookmark(a)).toMatchObject({ title: 'Before the change' });
  });

  it('a password reset brings new keys: a fresh uid, the old data deleted at once, the old storage token reads nothing and writes nothing', async () => {
    const user = await verifiedUser(server, dataDir, 'resetter');
    const a = await connect(user);
    await firstSync(a, 'Unreadable after the reset');
    const anon = new FxaClient(server.url);

    // Forgot password -> code by mail -> new password; kB is new.
    expect((await anon.call('POST', '/password/forgot/send_otp', { email: user.email })).status).toBe(200);
    const otp = await latestCode(dataDir, 'passwordForgotOtp', user.email);
    const forgot = await anon.call('POST', '/password/forgot/verify_otp', { email: user.email, code: otp });
    expect(forgot.status, JSON.stringify(forgot.body)).toBe(200);
    const verified = await anon.call('POST', '/password/forgot/verify_code', { code: forgot.body.code }, { token: { data: forgot.body.token, type: 'passwordForgotToken' } });
    expect(verified.status, JSON.stringify(verified.body)).toBe(200);
    const fresh = await passwordCredentials(user.email, 'the new password');
    const reset = await anon.call('POST', '/account/reset?keys=true', { authPW: bytesToHex(fresh.authPW), sessionToken: true }, {
      token: { data: verified.body.accountResetToken, type: 'accountResetToken' },
    });
    expect(reset.status, JSON.stringify(reset.body)).toBe(200);
    user.password = 'the new password';
    user.adopt(reset.body);
    const kf = await deriveTokenKeys(hexToBytes(reset.body.keyFetchToken), 'keyFetchToken');
    const bundle = await anon.call('GET', '/account/keys', undefined, { token: { data: reset.body.keyFetchToken, type: 'keyFetchToken' } });
    expect(bundle.status).toBe(200);
    const newKB = bytesToHex(unwrapKb((await unbundleKeys(kf.bundleKey, bundle.body.bundle)).wrapKb, fresh.unwrapBKey));

    const b = await connect(user, newKB);
    expect(b.kSync.k).not.toBe(a.kSync.k);
    expect(Number(b.kSync.kid.split('-')[0])).toBeGreaterThan(Number(a.kSync.kid.split('-')[0]));
    expect(b.uid).not.toBe(a.uid);
    // The old namespace is empty at once, and the old storage token may not refill it.
    const old = await a.storage.request('GET', '/storage/bookmarks?full=1');
    expect(old.status === 404 || (old.status === 200 && old.json().length === 0), old.text).toBe(true);
    const write = await a.storage.request('PUT', '/storage/bookmarks/bm2', { body: { id: 'bm2', payload: 'x' } });
    expect(write.status).toBe(401);
    // The new uid starts empty, and the old kid (a stale client state) is refused from now on.
    expect((await b.storage.request('GET', '/info/collections')).json()).toEqual({});
    const token = (await credentialsToken(user, OLDSYNC)).body.access_token as string;
    const oldKid = await tokenserver(token, a.kSync.kid);
    expect([oldKid.status, oldKid.body.status]).toEqual([401, 'invalid-client-state']);
    expect(oldKid.body.errors[0].description).toBe('Unacceptable client-state value stale value');
  });

  it('deleting the account retires its Sync user and deletes its records', async () => {
    const user = await verifiedUser(server, dataDir, 'leaver');
    const a = await connect(user);
    await firstSync(a, 'Gone with the account');
    expect((await user.call('POST', '/account/destroy', { email: user.email, authPW: user.authPW })).status).toBe(200);
    const bsos = await server.app.database.db.selectFrom('bsos').select('bso_id').where('user_id', '=', a.uid).execute();
    expect(bsos).toEqual([]);
    const rows = await server.app.database.db.selectFrom('users').selectAll().where('uid', '=', a.uid).execute();
    expect(rows).toHaveLength(1);
    expect(rows[0]!.replaced_at).not.toBeNull();
  });
});
