import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PUSH_TTL } from '../../src/accounts/notify.js';
import { FxaClient, TestUser, tokenId, type CallOptions, type FxaResponse } from '../helpers/fxa.js';
import { LocalPushService, pushesOf, waitForPush, type PushMessage, type Subscription } from '../helpers/push.js';
import { startServer, testEngines, type TestServer } from '../helpers/server.js';

// Devices, device commands, push and attached clients the way Firefox ESR 153 uses them
// (fxa-auth.md 4.5, 4.6, 7, 14.2). Every push goes to a real local push service that decrypts
// it. Foxden runs behind a small TCP proxy whose address is FOXDEN_PUBLIC_URL, so that the
// `url` of a command_received push is a real address this test can fetch.

const OPEN_URI = 'https://identity.mozilla.com/cmd/open-uri';
const CLOSE_URI = 'https://identity.mozilla.com/cmd/close-uri/v1';
const OLDSYNC = 'https://identity.mozilla.com/apps/oldsync';
const FENIX_CLIENT_ID = 'a2270f727f45f648';
const DAY = 24 * 3600 * 1000;
/** Upstream keeps an open-uri command (and tells the push service to keep its push) 30 days. */
const OPEN_URI_TTL_S = 30 * 24 * 3600;

/** What Firefox puts in availableCommands: JSON strings (Sync-encrypted command keys and a kid). */
function commandKeys(seed: string): string {
  return JSON.stringify({
    IV: randomBytes(16).toString('base64'),
    hmac: randomBytes(32).toString('hex'),
    ciphertext: randomBytes(96).toString('base64'),
    kid: `1700000000000-${seed}`,
  });
}

/** A TCP relay standing in for a reverse proxy; its address is Foxden's public URL. */
interface Proxy {
  port: number;
  targetPort: number;
  close(): Promise<void>;
}

async function startProxy(): Promise<Proxy> {
  const sockets = new Set<Socket>();
  const proxy = { port: 0, targetPort: 0, close: async () => {} };
  const server: Server = createServer((downstream) => {
    const upstream = connect(proxy.targetPort, '127.0.0.1');
    for (const s of [downstream, upstream]) {
      sockets.add(s);
      s.on('error', () => {});
      s.on('close', () => {
        sockets.delete(s);
        downstream.destroy();
        upstream.destroy();
      });
    }
    downstream.pipe(upstream).pipe(downstream);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  proxy.port = (server.address() as AddressInfo).port;
  proxy.close = () =>
    new Promise<void>((resolve) => {
      for (const s of sockets) s.destroy();
      server.close(() => resolve());
    });
  return proxy;
}

/** The newest sign-up/sign-in code mailed to `email`, from the outbox. */
function mailedCode(dataDir: string, email: string): string {
  const dir = join(dataDir, 'outbox');
  const files = readdirSync(dir)
    .filter((f) => /-verify(Short|Login)Code-/.test(f))
    .sort()
    .reverse();
  for (const f of files) {
    // Undo quoted-printable soft line breaks; the code stands alone on a line of the text part.
    const raw = readFileSync(join(dir, f), 'utf8').replace(/=\r\n/g, '');
    if (!new RegExp(`^To: ${email.replace(/[.+]/g, '\\$&')}\\r?$`, 'mi').test(raw)) continue;
    const m = /^[ \t]*(\d{6})[ \t]*\r?$/m.exec(raw);
    if (m) return m[1]!;
  }
  throw new Error(`no code mailed to ${email} in ${dir}`);
}

async function sleep(ms: number): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, ms));
}

/** Poll `check` until it passes (returns without throwing) or the time is up. */
async function eventually<T>(check: () => Promise<T>, timeoutMs = 5000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await check();
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await sleep(25);
    }
  }
}

function expectError(res: FxaResponse, status: number, errno: number): void {
  expect(res.status, JSON.stringify(res.body)).toBe(status);
  expect(res.body).toMatchObject({ code: status, errno, error: expect.any(String), message: expect.any(String) });
}

function sha256Hex(hex: string): string {
  return createHash('sha256').update(Buffer.from(hex, 'hex')).digest('hex');
}

const pushService = new LocalPushService();
beforeAll(() => pushService.start());
afterAll(() => pushService.close());

describe.each(await testEngines())('devices, commands and push (%s)', (engine) => {
  let dataDir: string;
  let proxy: Proxy;
  let server: TestServer;
  let client: FxaClient;
  let publicUrl: string;
  let alice: TestUser;
  let bob: TestUser;
  const startedAt = Date.now();

  /** One Firefox profile (or a mobile client with a refresh token): its credentials, push subscription, device. */
  class Browser {
    deviceId = '';
    push: Subscription;
    /** Firefox's Send Tab / Close Tab command keys, as it announces them once it has the Sync keys. */
    readonly commands: Record<string, string>;
    constructor(
      readonly name: string,
      public auth: CallOptions,
    ) {
      this.push = pushService.subscribe(`${engine}-${name}`);
      this.commands = { [OPEN_URI]: commandKeys(`${name}-open`), [CLOSE_URI]: commandKeys(`${name}-close`) };
    }

    /** The id of this browser's session token. */
    sessionId(): Promise<string> {
      return tokenId(this.auth.token!.data, 'sessionToken');
    }

    call(method: string, path: string, body?: unknown, options: CallOptions = {}): Promise<FxaResponse> {
      return client.call(method, path, body, { ...this.auth, ...options });
    }

    /** Firefox's first registration, right after fxaccounts:login. */
    async register(extra: Record<string, unknown> = {}): Promise<FxaResponse> {
      const res = await this.call('POST', '/account/device', {
        name: this.name,
        type: 'desktop',
        pushCallback: this.push.pushCallback,
        pushPublicKey: this.push.pushPublicKey,
        pushAuthKey: this.push.pushAuthKey,
        availableCommands: {},
        ...extra,
      });
      if (res.status === 200) this.deviceId = res.body.id;
      return res;
    }

    /** Firefox's update once it has the Sync keys: {id, name, availableCommands}. */
    updateCommands(id = this.deviceId): Promise<FxaResponse> {
      return this.call('POST', '/account/device', { id, name: this.name, availableCommands: this.commands });
    }

    async devices(query = ''): Promise<any[]> {
      const res = await this.call('GET', `/account/devices${query}`);
      expect(res.status, JSON.stringify(res.body)).toBe(200);
      expect(Array.isArray(res.body)).toBe(true);
      return res.body;
    }

    async commandsPage(query: string): Promise<any> {
      const res = await this.call('GET', `/account/device/commands${query}`);
      expect(res.status, JSON.stringify(res.body)).toBe(200);
      return res.body;
    }

    invoke(target: Browser, command: string, payload: object, ttl?: number): Promise<FxaResponse> {
      return this.call('POST', '/account/devices/invoke_command', { target: target.deviceId, command, payload, ...(ttl === undefined ? {} : { ttl }) });
    }
  }

  const sessionAuth = (token: string): CallOptions => client.session(token);

  async function verifiedUser(email: string, password: string): Promise<TestUser> {
    const user = new TestUser(client, email, password);
    const created = await user.create();
    expect(created.status, JSON.stringify(created.body)).toBe(200);
    const verified = await user.verify(mailedCode(dataDir, email));
    expect(verified.status, JSON.stringify(verified.body)).toBe(200);
    return user;
  }

  /** A new session of `user` (a verified one: the same address and browser signed in before). */
  async function signIn(user: TestUser): Promise<string> {
    const again = new TestUser(client, user.email, user.password);
    const res = await again.login();
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body.sessionVerified).toBe(true);
    return again.sessionToken;
  }

  /** Sign in, register and add the commands, as a Firefox profile connecting to the account does. */
  async function connectBrowser(user: TestUser, name: string): Promise<Browser> {
    const b = new Browser(name, sessionAuth(await signIn(user)));
    expect((await b.register()).status).toBe(200);
    expect((await b.updateCommands()).status).toBe(200);
    return b;
  }

  const db = () => server.app.database.db;

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'foxden-devices-'));
    proxy = await startProxy();
    publicUrl = `http://127.0.0.1:${proxy.port}`;
    server = await startServer(engine, {
      FOXDEN_DATA_DIR: dataDir,
      FOXDEN_PUBLIC_URL: publicUrl,
      FOXDEN_REGISTRATION: 'open',
      FOXDEN_RATE_LIMITS: 'off',
    });
    proxy.targetPort = server.port;
    client = new FxaClient(publicUrl);
    [alice, bob] = await Promise.all([verifiedUser('alice@example.com', 'alice password'), verifiedUser('bob@example.com', 'bob password')]);
  });

  afterAll(async () => {
    await server?.close();
    await proxy?.close();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  // The fleet the tests below build up: alice's browsers a, b, c… and one of bob's.
  let a: Browser;
  let b: Browser;
  let c: Browser;
  let bobs: Browser;

  it('registers a device exactly as Firefox does and lists it as the current device, commands verbatim', async () => {
    a = new Browser('Firefox on Linux', sessionAuth(alice.sessionToken));
    const before = Date.now();
    const reg = await a.register();
    expect(reg.status, JSON.stringify(reg.body)).toBe(200);
    expect(reg.body).toEqual({
      id: expect.stringMatching(/^[0-9a-f]{32}$/),
      createdAt: expect.any(Number),
      name: a.name,
      type: 'desktop',
      pushCallback: a.push.pushCallback,
      pushPublicKey: a.push.pushPublicKey,
      pushAuthKey: a.push.pushAuthKey,
      pushEndpointExpired: false,
      availableCommands: {},
    });
    expect(reg.body.createdAt).toBeGreaterThanOrEqual(before);
    expect(reg.body.createdAt).toBeLessThanOrEqual(Date.now());

    const upd = await a.updateCommands();
    expect(upd.status, JSON.stringify(upd.body)).toBe(200);
    expect(upd.body).toMatchObject({ id: a.deviceId, name: a.name, type: 'desktop', availableCommands: a.commands, pushCallback: a.push.pushCallback });

    const list = await a.devices();
    expect(list).toHaveLength(1);
    const me = list[0];
    expect(me).toMatchObject({
      id: a.deviceId,
      isCurrentDevice: true,
      name: a.name,
      type: 'desktop',
      pushCallback: a.push.pushCallback,
      pushPublicKey: a.push.pushPublicKey,
      pushAuthKey: a.push.pushAuthKey,
      pushEndpointExpired: false,
      lastAccessTime: expect.any(Number),
      lastAccessTimeFormatted: expect.any(String),
      location: expect.any(Object),
    });
    // The command values come back as the very strings Firefox sent, not parsed objects.
    expect(me.availableCommands).toStrictEqual(a.commands);
    for (const value of Object.values(me.availableCommands)) expect(typeof value).toBe('string');
    expect(me.lastAccessTime).toBeGreaterThanOrEqual(startedAt);
    expect(me.lastAccessTime).toBeLessThanOrEqual(Date.now());

    // What the schema refuses (107), without touching the device.
    const invalid: Record<string, unknown>[] = [
      { id: a.deviceId, name: 'bell\u0007' },
      { id: a.deviceId, availableCommands: { [OPEN_URI]: 'x'.repeat(2049) } },
      { id: a.deviceId, availableCommands: { 'bad key!': 'x' } },
      { id: a.deviceId, pushCallback: 'http://push.example.com/wpush', pushPublicKey: a.push.pushPublicKey, pushAuthKey: a.push.pushAuthKey },
      { id: a.deviceId, pushCallback: a.push.pushCallback },
      { id: a.deviceId, type: 'x'.repeat(17) },
    ];
    for (const body of invalid) expectError(await a.call('POST', '/account/device', body), 400, 107);
    expect((await a.devices())[0]).toMatchObject({ name: a.name, availableCommands: a.commands, pushCallback: a.push.pushCallback });
    // The longest value allowed is kept as it is.
    const long = { ...a.commands, 'https://identity.mozilla.com/cmd/test': 'y'.repeat(2048) };
    expect((await a.call('POST', '/account/device', { id: a.deviceId, availableCommands: long })).status).toBe(200);
    expect((await a.devices())[0].availableCommands).toStrictEqual(long);
    expect((await a.updateCommands()).status).toBe(200);

    bobs = new Browser("Bob's Firefox", sessionAuth(bob.sessionToken));
    expect((await bobs.register()).status).toBe(200);
    expect((await bobs.updateCommands()).status).toBe(200);
  });

  it('tells the other devices about a new device with device_connected, but not the new device', async () => {
    b = new Browser('Firefox auf dem Laptop – 🦊', sessionAuth(await signIn(alice)));
    expect((await b.register()).status).toBe(200);
    const m = await waitForPush(a.push, 'fxaccounts:device_connected', (p) => p.payload.data.deviceName === b.name);
    expect(m.payload).toEqual({ version: 1, command: 'fxaccounts:device_connected', data: { deviceName: b.name } });
    expect(m.ttl).toBe(PUSH_TTL['fxaccounts:device_connected']);
    expect(m.headers['content-encoding']).toBe('aes128gcm');
    expect(m.headers.authorization).toMatch(/^vapid t=[\w-]+\.[\w-]+\.[\w-]+, ?k=[\w-]+$/);

    // An update is no new device.
    expect((await b.updateCommands()).status).toBe(200);
    await sleep(200);
    expect(pushesOf(b.push, 'fxaccounts:device_connected')).toEqual([]);
    expect(pushesOf(a.push, 'fxaccounts:device_connected')).toHaveLength(1);

    const fromB = await b.devices();
    expect(fromB.map((d) => [d.id, d.isCurrentDevice])).toEqual(
      expect.arrayContaining([
        [a.deviceId, false],
        [b.deviceId, true],
      ]),
    );
    expect(fromB).toHaveLength(2);
    // Bob's account is another world.
    expect((await bobs.devices()).map((d) => d.id)).toEqual([bobs.deviceId]);
  });

  it('heals after errno 123 and 124 the way Firefox does', async () => {
    c = new Browser('Firefox Nightly', sessionAuth(await signIn(alice)));
    // A session without a device has no command queue.
    expectError(await c.call('GET', '/account/device/commands?index=1&limit=1'), 400, 123);

    // An update for a device the server does not know: 123; Firefox registers again without id.
    expectError(await c.updateCommands(randomBytes(16).toString('hex')), 400, 123);
    // Registrations racing each other (Firefox may start one while another is under way): one wins.
    const racing = await Promise.all([c.register(), c.register(), c.register()]);
    expect(racing.map((r) => r.status).sort()).toEqual([200, 400, 400]);
    for (const r of racing.filter((x) => x.status !== 200)) expectError(r, 400, 124);
    const winner = racing.find((r) => r.status === 200)!;
    c.deviceId = winner.body.id;
    const first = c.deviceId;
    expect(await db().selectFrom('devices').select('id').where('session_token_id', '=', await c.sessionId()).execute()).toEqual([{ id: first }]);

    // A second registration for the same session: 124; Firefox lists, picks its own, updates.
    const again = await c.register();
    expectError(again, 400, 124);
    expect(c.deviceId).toBe(first);
    const current = (await c.devices()).filter((d) => d.isCurrentDevice);
    expect(current.map((d) => d.id)).toEqual([first]);
    const upd = await c.updateCommands(current[0].id);
    expect(upd.status, JSON.stringify(upd.body)).toBe(200);
    expect(upd.body.availableCommands).toStrictEqual(c.commands);

    // Another session's device is not this session's to update.
    expectError(await c.call('POST', '/account/device', { id: a.deviceId, name: 'hijacked' }), 400, 123);
    expect((await a.devices()).find((d) => d.id === a.deviceId)?.name).toBe(a.name);
    expect(await db().selectFrom('devices').select('id').where('uid', '=', alice.uid).execute()).toHaveLength(3);

    await waitForPush(a.push, 'fxaccounts:device_connected', (p) => p.payload.data.deviceName === c.name);
    await waitForPush(b.push, 'fxaccounts:device_connected', (p) => p.payload.data.deviceName === c.name);
  });

  it('hides idle devices from the filtered list, never the current device', async () => {
    const bSession = await b.sessionId();
    const longAgo = Date.now() - 30 * DAY;
    await db().updateTable('session_tokens').set({ last_access_at: longAgo }).where('token_id', '=', bSession).execute();

    const cutoff = Date.now() - 21 * DAY;
    const filtered = await a.devices(`?filterIdleDevicesTimestamp=${cutoff}`);
    expect(filtered.map((d) => d.id).sort()).toEqual([a.deviceId, c.deviceId].sort());
    const all = await a.devices();
    expect(all.map((d) => d.id).sort()).toEqual([a.deviceId, b.deviceId, c.deviceId].sort());
    expect(all.find((d) => d.id === b.deviceId).lastAccessTime).toBe(longAgo);

    // A cutoff in the future makes every device idle: the caller still sees itself.
    const future = await a.devices(`?filterIdleDevicesTimestamp=${Date.now() + DAY}`);
    expect(future.map((d) => [d.id, d.isCurrentDevice])).toEqual([[a.deviceId, true]]);
    const fromB = await b.devices(`?filterIdleDevicesTimestamp=${Date.now() + DAY}`);
    expect(fromB.map((d) => [d.id, d.isCurrentDevice])).toEqual([[b.deviceId, true]]);

    // b's own request counted as use: it is no longer idle.
    const afterUse = await a.devices(`?filterIdleDevicesTimestamp=${cutoff}`);
    expect(afterUse.map((d) => d.id).sort()).toEqual([a.deviceId, b.deviceId, c.deviceId].sort());
  });

  it('relays sync:collection_changed from /account/devices/notify', async () => {
    const clients = { version: 1, command: 'sync:collection_changed', data: { collections: ['clients'] } };
    const res = await a.call('POST', '/account/devices/notify', { to: 'all', excluded: [a.deviceId], payload: clients });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body).toEqual({});
    for (const target of [b, c]) {
      const m = await waitForPush(target.push, 'sync:collection_changed');
      expect(m.payload).toEqual(clients);
      expect(m.ttl).toBe(0);
    }

    const sendtab = { version: 1, command: 'sync:collection_changed', data: { collections: ['clients'], reason: 'sendtab' } };
    const toB = await a.call('POST', '/account/devices/notify', { to: [b.deviceId], payload: sendtab, TTL: 86400 });
    expect(toB.status, JSON.stringify(toB.body)).toBe(200);
    const m = await waitForPush(b.push, 'sync:collection_changed', (p) => p.payload.data.reason === 'sendtab');
    expect(m.payload).toEqual(sendtab);
    expect(m.ttl).toBe(86400);

    await sleep(200);
    expect(pushesOf(a.push, 'sync:collection_changed')).toEqual([]);
    expect(pushesOf(c.push, 'sync:collection_changed')).toHaveLength(1);
    expect(pushesOf(bobs.push, 'sync:collection_changed')).toEqual([]);

    // Payloads must be what the push-payload schema allows.
    const bad = { version: 1, command: 'sync:collection_changed', data: { collections: ['not-a-collection'] } };
    expectError(await a.call('POST', '/account/devices/notify', { to: 'all', payload: bad }), 400, 107);
    expectError(await a.call('POST', '/account/devices/notify', { to: [b.deviceId], excluded: [a.deviceId], payload: clients }), 400, 107);
  });

  it('queues commands per device with strictly increasing indices, paged exactly as Firefox reads them', async () => {
    const before = await db().selectFrom('device_commands').select('idx').where('device_id', '=', b.deviceId).execute();
    expect(before).toEqual([]);
    for (const n of [1, 2, 3]) {
      const res = await a.invoke(b, OPEN_URI, { encrypted: `tab-${n}` });
      expect(res.status, JSON.stringify(res.body)).toBe(200);
      expect(res.body).toEqual({ enqueued: true, notified: true });
    }
    const pushes: PushMessage[] = [];
    for (const n of [1, 2, 3]) pushes.push(await waitForPush(b.push, 'fxaccounts:command_received', (p) => p.payload.data.index === n));
    for (const [i, m] of pushes.entries()) {
      const index = i + 1;
      expect(m.payload).toEqual({
        version: 1,
        command: 'fxaccounts:command_received',
        data: { command: OPEN_URI, index, sender: a.deviceId, url: `${publicUrl}/auth/v1/account/device/commands?index=${index}&limit=1` },
      });
      expect(m.ttl).toBe(OPEN_URI_TTL_S);
    }

    // The push's url is a real address of this server that returns that one command.
    const url = new URL(pushes[1]!.payload.data.url);
    expect(url.origin).toBe(publicUrl);
    const viaUrl = await b.call('GET', url.pathname.replace(/^\/auth\/v1/, '') + url.search);
    expect(viaUrl.status).toBe(200);
    expect(viaUrl.body).toEqual({
      index: 2,
      last: false,
      messages: [{ index: 2, data: { command: OPEN_URI, payload: { encrypted: 'tab-2' }, sender: a.deviceId } }],
    });

    // Firefox asks for lastCommandIndex + 1 and stores the returned index when messages came.
    const all = await b.commandsPage('?index=1');
    expect(all.index).toBe(3);
    expect(all.last).toBe(true);
    expect(all.messages.map((x: any) => [x.index, x.data.payload.encrypted])).toEqual([
      [1, 'tab-1'],
      [2, 'tab-2'],
      [3, 'tab-3'],
    ]);
    expect(await b.commandsPage('?index=1&limit=2')).toMatchObject({ index: 2, last: false, messages: [{ index: 1 }, { index: 2 }] });
    expect(await b.commandsPage('?index=3&limit=2')).toMatchObject({ index: 3, last: true, messages: [{ index: 3 }] });
    expect(await b.commandsPage('?index=2&limit=1')).toMatchObject({ index: 2, last: false, messages: [{ index: 2 }] });
    expect(await b.commandsPage('?index=3&limit=1')).toMatchObject({ index: 3, last: true, messages: [{ index: 3 }] });
    const empty = await b.commandsPage('?index=4&limit=100');
    expect(empty.messages).toEqual([]);
    expect(empty.last).toBe(true);

    // Reading does not consume; the next command still gets the next index; each device counts alone.
    const fourth = await c.invoke(b, CLOSE_URI, { encrypted: 'close-1' }, 120);
    expect(fourth.status, JSON.stringify(fourth.body)).toBe(200);
    const m4 = await waitForPush(b.push, 'fxaccounts:command_received', (p) => p.payload.data.index === 4);
    expect(m4.payload.data).toEqual({ command: CLOSE_URI, index: 4, sender: c.deviceId, url: `${publicUrl}/auth/v1/account/device/commands?index=4&limit=1` });
    expect(m4.ttl).toBe(120);
    expect(await b.commandsPage('?index=4')).toEqual({
      index: 4,
      last: true,
      messages: [{ index: 4, data: { command: CLOSE_URI, payload: { encrypted: 'close-1' }, sender: c.deviceId } }],
    });
    expect((await b.invoke(a, OPEN_URI, { encrypted: 'for-a' })).status).toBe(200);
    expect(await a.commandsPage('?index=1')).toMatchObject({ index: 1, last: true, messages: [{ index: 1, data: { sender: b.deviceId } }] });
    expect((await c.commandsPage('?index=1')).messages).toEqual([]);
    expect(pushesOf(c.push, 'fxaccounts:command_received')).toEqual([]);

    // Commands sent at the same moment still get distinct, consecutive indices.
    const burst = await Promise.all([5, 6, 7, 8, 9].map((n) => (n % 2 ? a : c).invoke(b, OPEN_URI, { encrypted: `burst-${n}` })));
    for (const r of burst) expect(r.status, JSON.stringify(r.body)).toBe(200);
    const page = await b.commandsPage('?index=5');
    expect(page.messages.map((x: any) => x.index)).toEqual([5, 6, 7, 8, 9]);
    expect(page.messages.map((x: any) => x.data.payload.encrypted).sort()).toEqual(['burst-5', 'burst-6', 'burst-7', 'burst-8', 'burst-9']);
    expect(page).toMatchObject({ index: 9, last: true });
    for (const n of [5, 6, 7, 8, 9]) await waitForPush(b.push, 'fxaccounts:command_received', (p) => p.payload.data.index === n);

    // Without a ttl, only open-uri's push lives 30 days (upstream's default for it); others get 6 hours.
    expect((await a.invoke(b, CLOSE_URI, { encrypted: 'close-2' })).status).toBe(200);
    const m10 = await waitForPush(b.push, 'fxaccounts:command_received', (p) => p.payload.data.index === 10);
    expect(m10.payload.data.command).toBe(CLOSE_URI);
    expect(m10.ttl).toBe(PUSH_TTL['fxaccounts:command_received']);

    // A command the target did not announce: 157. A device of another account: 123.
    expectError(await a.invoke(b, 'https://identity.mozilla.com/cmd/not-offered', { x: 1 }), 400, 157);
    expectError(await a.invoke(bobs, OPEN_URI, { encrypted: 'x' }), 400, 123);
    expect((await bobs.commandsPage('?index=1')).messages).toEqual([]);
  });

  it('drops a command once its ttl has passed', async () => {
    const res = await a.invoke(c, OPEN_URI, { encrypted: 'short-lived' }, 1);
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    const m = await waitForPush(c.push, 'fxaccounts:command_received');
    expect(m.ttl).toBe(1);
    const index = m.payload.data.index as number;
    expect((await c.commandsPage(`?index=${index}`)).messages).toHaveLength(1);
    await sleep(1100);
    const later = await c.commandsPage(`?index=${index}`);
    expect(later.messages).toEqual([]);
    expect(later.last).toBe(true);
  });

  it('marks a subscription the push service calls gone as expired, and the request still succeeds', async () => {
    c.push.status = 410;
    const notify = await a.call('POST', '/account/devices/notify', {
      to: [c.deviceId],
      payload: { version: 1, command: 'sync:collection_changed', data: { collections: ['tabs'] } },
    });
    expect(notify.status, JSON.stringify(notify.body)).toBe(200);
    expect(notify.body).toEqual({});
    await waitForPush(c.push, 'sync:collection_changed', (p) => p.payload.data.collections[0] === 'tabs');
    await eventually(async () => {
      expect((await a.devices()).find((d) => d.id === c.deviceId)?.pushEndpointExpired).toBe(true);
    });
    const own = (await c.devices()).find((d) => d.isCurrentDevice);
    expect(own).toMatchObject({ id: c.deviceId, pushEndpointExpired: true });

    // A command to it is still queued, just not announced.
    const sent = await a.invoke(c, OPEN_URI, { encrypted: 'while-expired' });
    expect(sent.status, JSON.stringify(sent.body)).toBe(200);
    expect(sent.body).toMatchObject({ enqueued: true, notified: false });
    const queued = await c.commandsPage('?index=1');
    expect(queued.messages.map((x: any) => x.data.payload.encrypted)).toContain('while-expired');

    // Firefox sees its own flag and subscribes again; pushes reach it again.
    const stale = c.push;
    c.push = pushService.subscribe(`${engine}-${c.name}-renewed`);
    const renewed = await c.call('POST', '/account/device', {
      id: c.deviceId,
      name: c.name,
      pushCallback: c.push.pushCallback,
      pushPublicKey: c.push.pushPublicKey,
      pushAuthKey: c.push.pushAuthKey,
      availableCommands: c.commands,
    });
    expect(renewed.status, JSON.stringify(renewed.body)).toBe(200);
    expect(renewed.body.pushEndpointExpired).toBe(false);
    expect((await a.devices()).find((d) => d.id === c.deviceId)?.pushEndpointExpired).toBe(false);
    const poke = await a.call('POST', '/account/devices/notify', {
      to: [c.deviceId],
      payload: { version: 1, command: 'sync:collection_changed', data: { collections: ['bookmarks'] } },
    });
    expect(poke.status).toBe(200);
    await waitForPush(c.push, 'sync:collection_changed', (p) => p.payload.data.collections[0] === 'bookmarks');
    expect(stale.messages.filter((x) => x.payload?.data?.collections?.[0] === 'bookmarks')).toEqual([]);
  });

  it('destroying a device destroys its session and tells every device with device_disconnected', async () => {
    const cSession = await c.sessionId();
    // Nobody else's to destroy.
    expectError(await bobs.call('POST', '/account/device/destroy', { id: c.deviceId }), 400, 123);
    expect((await c.call('GET', '/session/status')).status).toBe(200);
    const res = await a.call('POST', '/account/device/destroy', { id: c.deviceId });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body).toEqual({});
    // The target too: Firefox signs itself out when it sees its own id.
    for (const target of [a, b, c]) {
      const m = await waitForPush(target.push, 'fxaccounts:device_disconnected', (p) => p.payload.data.id === c.deviceId);
      expect(m.payload).toEqual({ version: 1, command: 'fxaccounts:device_disconnected', data: { id: c.deviceId } });
      expect(m.ttl).toBe(PUSH_TTL['fxaccounts:device_disconnected']);
    }
    expectError(await c.call('GET', '/session/status'), 401, 110);
    expectError(await c.call('GET', '/account/devices'), 401, 110);
    expect((await a.devices()).map((d) => d.id)).not.toContain(c.deviceId);
    expect(await db().selectFrom('session_tokens').select('token_id').where('token_id', '=', cSession).execute()).toEqual([]);
    expect(await db().selectFrom('device_commands').select('idx').where('device_id', '=', c.deviceId).execute()).toEqual([]);
    // Commands to it now fail as to any unknown device.
    expectError(await a.invoke(c, OPEN_URI, { encrypted: 'too late' }), 400, 123);
    expectError(await a.call('POST', '/account/device/destroy', { id: c.deviceId }), 400, 123);
  });

  it('signing out (/session/destroy) deletes the session’s device and tells the others', async () => {
    const d = await connectBrowser(alice, 'Firefox ESR on the desk');
    await waitForPush(a.push, 'fxaccounts:device_connected', (p) => p.payload.data.deviceName === d.name);
    // Firefox signs out with an empty JSON body.
    const res = await d.call('POST', '/session/destroy?service=sync', undefined, { rawBody: '', contentType: 'application/json' });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body).toEqual({});
    for (const target of [a, b]) {
      const m = await waitForPush(target.push, 'fxaccounts:device_disconnected', (p) => p.payload.data.id === d.deviceId);
      expect(m.ttl).toBe(PUSH_TTL['fxaccounts:device_disconnected']);
    }
    expectError(await d.call('GET', '/session/status'), 401, 110);
    expect((await a.devices()).map((x) => x.id)).not.toContain(d.deviceId);
    expectError(await a.invoke(d, OPEN_URI, { encrypted: 'gone' }), 400, 123);
  });

  it('/session/destroy with customSessionToken ends another session of the same user, never someone else’s', async () => {
    const e = await connectBrowser(alice, 'Firefox on the old laptop');
    const eSession = await e.sessionId();
    const res = await a.call('POST', '/session/destroy', { customSessionToken: eSession });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expectError(await e.call('GET', '/session/status'), 401, 110);
    await waitForPush(b.push, 'fxaccounts:device_disconnected', (p) => p.payload.data.id === e.deviceId);
    expect((await a.devices()).map((x) => x.id)).not.toContain(e.deviceId);
    expect((await a.call('GET', '/session/status')).status).toBe(200);

    const bobSession = await tokenId(bob.sessionToken, 'sessionToken');
    const foreign = await a.call('POST', '/session/destroy', { customSessionToken: bobSession });
    expectError(foreign, 401, 110);
    expect((await bobs.call('GET', '/session/status')).status).toBe(200);
    expect((await bobs.devices()).map((x) => x.id)).toEqual([bobs.deviceId]);
    expect((await a.call('GET', '/session/status')).status).toBe(200);
  });

  it('lists one attached client per session, with its device, and marks the caller’s', async () => {
    const bare = await signIn(alice);
    const bareId = await tokenId(bare, 'sessionToken');
    const res = await a.call('GET', '/account/attached_clients');
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    const sessions = await db().selectFrom('session_tokens').select('token_id').where('uid', '=', alice.uid).execute();
    expect(res.body.map((x: any) => x.sessionTokenId).sort()).toEqual(sessions.map((s) => s.token_id).sort());
    const aId = await tokenId(alice.sessionToken, 'sessionToken');
    const bId = await b.sessionId();
    const byId = new Map<string, any>(res.body.map((x: any) => [x.sessionTokenId, x]));
    expect(byId.get(aId)).toMatchObject({
      clientId: null,
      deviceId: a.deviceId,
      sessionTokenId: aId,
      refreshTokenId: null,
      isCurrentSession: true,
      deviceType: 'desktop',
      name: a.name,
      scope: null,
      createdTime: expect.any(Number),
      lastAccessTime: expect.any(Number),
      lastAccessTimeFormatted: expect.any(String),
    });
    expect(byId.get(bId)).toMatchObject({ deviceId: b.deviceId, isCurrentSession: false, name: b.name });
    expect(byId.get(bareId)).toMatchObject({ deviceId: null, isCurrentSession: false, clientId: null });
    expect(res.body.filter((x: any) => x.isCurrentSession)).toHaveLength(1);
    for (const x of res.body) expect(x.lastAccessTime).toBeGreaterThan(startedAt - 31 * DAY);
    // Ending that session through attached_client/destroy.
    const gone = await a.call('POST', '/account/attached_client/destroy', { sessionTokenId: bareId });
    expect(gone.status, JSON.stringify(gone.body)).toBe(200);
    expectError(await client.call('GET', '/session/status', undefined, sessionAuth(bare)), 401, 110);
    // Nobody may end bob's session this way.
    const bobSession = await tokenId(bob.sessionToken, 'sessionToken');
    expect((await a.call('POST', '/account/attached_client/destroy', { sessionTokenId: bobSession })).status).toBe(400);
    expect((await bobs.call('GET', '/session/status')).status).toBe(200);
  });

  it('takes an OAuth refresh token as Bearer on the device routes', async () => {
    const token = randomBytes(32).toString('hex');
    const hash = sha256Hex(token);
    const now = Date.now();
    await db()
      .insertInto('refresh_tokens')
      .values({ token_hash: hash, uid: alice.uid, client_id: FENIX_CLIENT_ID, scope: `profile ${OLDSYNC}`, created_at: now, last_used_at: now })
      .execute();
    const m = new Browser('Firefox on Android', { authorization: `Bearer ${token}` });
    const reg = await m.register({ type: 'mobile', availableCommands: { [OPEN_URI]: m.commands[OPEN_URI] } });
    expect(reg.status, JSON.stringify(reg.body)).toBe(200);
    expect(reg.body).toMatchObject({ id: m.deviceId, type: 'mobile', availableCommands: { [OPEN_URI]: m.commands[OPEN_URI] } });
    const row = await db().selectFrom('devices').select(['refresh_token_id', 'session_token_id']).where('id', '=', m.deviceId).executeTakeFirstOrThrow();
    expect(row).toEqual({ refresh_token_id: hash, session_token_id: null });
    await waitForPush(a.push, 'fxaccounts:device_connected', (p) => p.payload.data.deviceName === m.name);
    expectError(await m.register(), 400, 124);

    const mine = await m.devices();
    expect(mine.filter((d) => d.isCurrentDevice).map((d) => d.id)).toEqual([m.deviceId]);
    expect(mine.map((d) => d.id)).toEqual(expect.arrayContaining([a.deviceId, b.deviceId, m.deviceId]));
    expect((await a.devices()).find((d) => d.id === m.deviceId)).toMatchObject({ isCurrentDevice: false, type: 'mobile' });

    // Send Tab to the phone, which reads it with its refresh token.
    expect((await a.invoke(m, OPEN_URI, { encrypted: 'to-phone' })).status).toBe(200);
    const pushed = await waitForPush(m.push, 'fxaccounts:command_received');
    expect(pushed.payload.data).toMatchObject({ index: 1, sender: a.deviceId, command: OPEN_URI });
    expect(await m.commandsPage('?index=1')).toEqual({
      index: 1,
      last: true,
      messages: [{ index: 1, data: { command: OPEN_URI, payload: { encrypted: 'to-phone' }, sender: a.deviceId } }],
    });

    const attached = await a.call('GET', '/account/attached_clients');
    expect(attached.status).toBe(200);
    const entry = attached.body.find((x: any) => x.refreshTokenId === hash);
    expect(entry).toMatchObject({
      clientId: FENIX_CLIENT_ID,
      deviceId: m.deviceId,
      sessionTokenId: null,
      refreshTokenId: hash,
      isCurrentSession: false,
      deviceType: 'mobile',
      name: m.name,
      scope: ['profile', OLDSYNC],
    });
    expect((await m.call('GET', '/account/attached_clients')).status).toBe(200);

    const destroy = await a.call('POST', '/account/attached_client/destroy', { clientId: FENIX_CLIENT_ID, refreshTokenId: hash });
    expect(destroy.status, JSON.stringify(destroy.body)).toBe(200);
    expect(await db().selectFrom('refresh_tokens').select('token_hash').where('token_hash', '=', hash).execute()).toEqual([]);
    expect((await a.devices()).map((d) => d.id)).not.toContain(m.deviceId);
    await waitForPush(b.push, 'fxaccounts:device_disconnected', (p) => p.payload.data.id === m.deviceId);
    expectError(await m.call('GET', '/account/devices'), 401, 110);

    // Revoking a client by its id alone takes all its refresh tokens (here two without a device).
    const spare = [randomBytes(32).toString('hex'), randomBytes(32).toString('hex')].map(sha256Hex);
    for (const h of spare) {
      await db().insertInto('refresh_tokens').values({ token_hash: h, uid: alice.uid, client_id: FENIX_CLIENT_ID, scope: 'profile', created_at: now, last_used_at: now }).execute();
    }
    const listed = (await a.call('GET', '/account/attached_clients')).body.filter((x: any) => x.clientId === FENIX_CLIENT_ID);
    expect(listed.map((x: any) => x.refreshTokenId).sort()).toEqual([...spare].sort());
    expect(listed.every((x: any) => x.deviceId === null && x.sessionTokenId === null)).toBe(true);
    expect((await a.call('POST', '/account/attached_client/destroy', { clientId: FENIX_CLIENT_ID })).status).toBe(200);
    expect(await db().selectFrom('refresh_tokens').select('token_hash').where('uid', '=', alice.uid).execute()).toEqual([]);

    // A refresh token the server never issued.
    expectError(await client.call('GET', '/account/devices', undefined, { authorization: `Bearer ${randomBytes(32).toString('hex')}` }), 401, 110);
    expectError(await client.call('POST', '/account/device', { name: 'x', type: 'mobile' }, { authorization: `Bearer ${randomBytes(32).toString('hex')}` }), 401, 110);
  });

  it('password change keeps the caller’s device under the new session and ends every other session and device', async () => {
    const oldToken = alice.sessionToken;
    const lonely = await signIn(alice);
    const res = await alice.changePassword('alice new password');
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(alice.sessionToken).not.toBe(oldToken);
    a.auth = sessionAuth(alice.sessionToken);

    const list = await a.devices();
    expect(list).toHaveLength(1);
    expect(list[0]).toMatchObject({ id: a.deviceId, isCurrentDevice: true, name: a.name, pushCallback: a.push.pushCallback });
    expect(list[0].availableCommands).toStrictEqual(a.commands);
    // Its queue came along.
    expect((await a.commandsPage('?index=1')).messages.map((x: any) => x.data.payload.encrypted)).toEqual(['for-a']);

    for (const token of [oldToken, lonely, b.auth.token!.data]) {
      expectError(await client.call('GET', '/session/status', undefined, sessionAuth(token)), 401, 110);
    }
    const m = await waitForPush(b.push, 'fxaccounts:password_changed');
    expect(m.payload).toEqual({ version: 1, command: 'fxaccounts:password_changed' });
    expect(m.ttl).toBe(PUSH_TTL['fxaccounts:password_changed']);
    await sleep(200);
    expect(pushesOf(a.push, 'fxaccounts:password_changed')).toEqual([]);
    expect(pushesOf(bobs.push, 'fxaccounts:password_changed')).toEqual([]);

    const attached = await a.call('GET', '/account/attached_clients');
    expect(attached.status).toBe(200);
    expect(attached.body).toHaveLength(1);
    expect(attached.body[0]).toMatchObject({
      sessionTokenId: await tokenId(alice.sessionToken, 'sessionToken'),
      deviceId: a.deviceId,
      isCurrentSession: true,
    });
    // Firefox's next update with its stored id just works.
    expect((await a.updateCommands()).status).toBe(200);
  });

  it('answers the status routes Firefox consults after a 401, and the profile', async () => {
    const status = await a.call('GET', '/session/status');
    expect(status.status).toBe(200);
    expect(status.body).toMatchObject({ state: 'verified', uid: alice.uid, details: { accountEmailVerified: true, sessionVerified: true, verified: true } });
    expect((await a.call('GET', '/recovery_email/status')).body).toEqual({ email: alice.email, verified: true, sessionVerified: true, emailVerified: true });

    const carol = new TestUser(client, 'carol@example.com', 'carol password');
    const created = await carol.create();
    expect(created.status).toBe(200);
    const pending = await carol.call('GET', '/session/status');
    expect(pending.status).toBe(200);
    expect(pending.body).toMatchObject({ state: 'unverified', uid: carol.uid, details: { accountEmailVerified: false, sessionVerified: false, verified: false } });
    expect((await carol.call('GET', '/recovery_email/status')).body).toEqual({ email: carol.email, verified: false, sessionVerified: false, emailVerified: false });
    expect((await carol.verify(mailedCode(dataDir, carol.email))).status).toBe(200);
    expect((await carol.call('GET', '/session/status')).body).toMatchObject({ state: 'verified', uid: carol.uid });
    expect((await carol.call('GET', '/recovery_email/status')).body).toEqual({ email: carol.email, verified: true, sessionVerified: true, emailVerified: true });

    const carolProfile = await carol.call('GET', '/account/profile');
    expect(carolProfile.status).toBe(200);
    expect(carolProfile.body).toMatchObject({ email: carol.email, keysChangedAt: expect.any(Number), profileChangedAt: expect.any(Number) });
    expect(carolProfile.body.error).toBeUndefined();
    // Milliseconds, both, and set at sign-up.
    expect(carolProfile.body.keysChangedAt).toBeGreaterThanOrEqual(startedAt);
    expect(carolProfile.body.keysChangedAt).toBeLessThanOrEqual(Date.now());
    expect(carolProfile.body.profileChangedAt).toBe(carolProfile.body.keysChangedAt);

    // Alice changed her password: the profile changed, her keys did not.
    const profile = (await a.call('GET', '/account/profile')).body;
    expect(profile.email).toBe(alice.email);
    expect(profile.keysChangedAt).toBeGreaterThanOrEqual(startedAt);
    expect(profile.profileChangedAt).toBeGreaterThan(profile.keysChangedAt);
    expect(profile.profileChangedAt).toBeLessThanOrEqual(Date.now());

    expect((await client.call('GET', `/account/status?uid=${alice.uid}`)).body).toEqual({ exists: true });
    expect((await client.call('GET', `/account/status?uid=${randomBytes(16).toString('hex')}`)).body).toEqual({ exists: false });
  });

  it('deleting the account pushes account_destroyed and the account is gone', async () => {
    const res = await a.call('POST', '/account/destroy', { email: alice.email, authPW: alice.authPW });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body).toEqual({});
    const m = await waitForPush(a.push, 'fxaccounts:account_destroyed');
    expect(m.payload).toEqual({ version: 1, command: 'fxaccounts:account_destroyed', data: { uid: alice.uid } });
    expect(m.ttl).toBe(PUSH_TTL['fxaccounts:account_destroyed']);
    // What Firefox does next: its session is gone, and the account does not exist.
    expectError(await a.call('GET', '/session/status'), 401, 110);
    expect((await client.call('GET', `/account/status?uid=${alice.uid}`)).body).toEqual({ exists: false });
    expect(await db().selectFrom('devices').select('id').where('uid', '=', alice.uid).execute()).toEqual([]);
    expect((await bobs.devices()).map((d) => d.id)).toEqual([bobs.deviceId]);
  });

  it('kept bob’s device out of alice’s business, and every push decrypted', async () => {
    await sleep(100);
    expect(bobs.push.messages).toEqual([]);
    expect(pushService.problems).toEqual([]);
  });
});
