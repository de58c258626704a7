import { randomBytes } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { accountState, expectFxaError, expectInvalid, expectMissing, serverErrors, useBadInputServer, verifiedUser } from '../helpers/bad-input.js';
import { TestUser } from '../helpers/fxa.js';
import { testEngines } from '../helpers/server.js';

// Device registration, commands and notifications with bad input (fxa-auth.md 4.5, 4.6): 123
// unknown device, 124 second registration, 157 command not advertised, 107 for fields out of
// shape. Two sessions of one account, each with its device; both read back unchanged.

const OPEN_URI = 'https://identity.mozilla.com/cmd/open-uri';
// Tables are built before the devices exist, so they use fixed ids.
const SOME_ID = '0123456789abcdef'.repeat(2);
const OTHER_ID = 'fedcba9876543210'.repeat(2);
const PUSH = {
  pushCallback: 'https://updates.push.example.com/wpush/v2/abc',
  pushPublicKey: 'BCp93zru09_hab2Bg37LpTNG__Pw6eMPEP2hrQpwuytoj3h4chXpGc-3qqdKyqjuvAiEupsnOd_RLyc7erJHWgA',
  pushAuthKey: 'w3b14Zjc-Afj2SDOLOyong',
};

describe.each(await testEngines())('bad input: devices (%s)', (engine) => {
  const env = useBadInputServer(engine);
  let alice: TestUser;
  let bob: TestUser;
  let aliceDevice: string;
  let bobDevice: string;
  let before: Record<string, unknown>;
  let beforeBob: Record<string, unknown>;

  beforeAll(async () => {
    alice = await verifiedUser(env, 'devices');
    bob = new TestUser(env.client, alice.email, alice.password);
    const login = await bob.login();
    expect(login.status, JSON.stringify(login.body)).toBe(200);
    expect(login.body.sessionVerified).toBe(true);

    // Before it registers, bob's session has no device to read commands for.
    expectFxaError(await bob.call('GET', '/account/device/commands?index=0&limit=10'), 400, 123);

    const a = await alice.call('POST', '/account/device', { name: 'alice', type: 'desktop', availableCommands: { [OPEN_URI]: 'keys' } });
    expect(a.status, JSON.stringify(a.body)).toBe(200);
    aliceDevice = a.body.id;
    const b = await bob.call('POST', '/account/device', { name: 'bob', type: 'mobile', availableCommands: {} });
    expect(b.status, JSON.stringify(b.body)).toBe(200);
    bobDevice = b.body.id;
    before = await accountState(alice);
    beforeBob = await accountState(bob);
  });

  const unchanged = async () => {
    expect(await accountState(alice)).toEqual(before);
    expect(await accountState(bob)).toEqual(beforeBob);
  };

  describe('POST /account/device', () => {
    it('update with an unknown id → 400/123', async () => {
      expectFxaError(await alice.call('POST', '/account/device', { id: randomBytes(16).toString('hex'), name: 'ghost' }), 400, 123);
    });

    it("update with another session's device id → 400/123", async () => {
      expectFxaError(await alice.call('POST', '/account/device', { id: bobDevice, name: 'hijacked' }), 400, 123);
    });

    it('a second registration on the same session → 400/124 with the existing deviceId', async () => {
      const res = await alice.call('POST', '/account/device', { name: 'alice again', type: 'desktop', availableCommands: {} });
      expectFxaError(res, 400, 124, { deviceId: aliceDevice });
    });

    const bad: [string, Record<string, unknown>, string | undefined][] = [
      ['name of 256 characters', { name: 'n'.repeat(256) }, 'name'],
      ['name with a control character', { name: 'evil\u0000name' }, 'name'],
      ['name with a bidi override', { name: 'abc\u202Edef' }, 'name'],
      ['name as a number', { name: 42 }, 'name'],
      ['name null', { name: null }, 'name'],
      ['type of 17 characters', { type: 't'.repeat(17) }, 'type'],
      ['type with a space', { type: 'desk top' }, 'type'],
      ['availableCommands value of 2049', { availableCommands: { [OPEN_URI]: 'v'.repeat(2049) } }, `availableCommands.${OPEN_URI}`],
      ['availableCommands value not a string', { availableCommands: { [OPEN_URI]: { publicKey: 'x' } } }, `availableCommands.${OPEN_URI}`],
      ['availableCommands key of 101', { availableCommands: { ['k'.repeat(101)]: 'v' } }, undefined],
      ['availableCommands key with a space', { availableCommands: { 'open uri': 'v' } }, undefined],
      ['availableCommands as an array', { availableCommands: [OPEN_URI] }, 'availableCommands'],
      ['availableCommands as a string', { availableCommands: OPEN_URI }, 'availableCommands'],
      ['availableCommands null', { availableCommands: null }, 'availableCommands'],
      ['capabilities as an object', { capabilities: {} }, 'capabilities'],
      ['id not hex', { id: 'z'.repeat(32) }, 'id'],
      ['id of 31 hex', { id: 'a'.repeat(31) }, 'id'],
      ['pushCallback alone', { pushCallback: PUSH.pushCallback }, undefined],
      ['push keys without pushCallback', { pushPublicKey: PUSH.pushPublicKey, pushAuthKey: PUSH.pushAuthKey }, undefined],
      ['pushCallback and pushPublicKey only', { pushCallback: PUSH.pushCallback, pushPublicKey: PUSH.pushPublicKey }, undefined],
      ['pushCallback over http', { ...PUSH, pushCallback: 'http://example.com/push' }, 'pushCallback'],
      ['pushCallback not a URL', { ...PUSH, pushCallback: 'not a url' }, 'pushCallback'],
      ['pushCallback with credentials', { ...PUSH, pushCallback: 'https://user:pw@push.example.com/x' }, 'pushCallback'],
      ['pushCallback ftp', { ...PUSH, pushCallback: 'ftp://push.example.com/x' }, 'pushCallback'],
      ['pushCallback of 256', { ...PUSH, pushCallback: `https://push.example.com/${'p'.repeat(231)}` }, 'pushCallback'],
      ['pushPublicKey not base64url', { ...PUSH, pushPublicKey: 'not base64!' }, 'pushPublicKey'],
      ['pushPublicKey of 89', { ...PUSH, pushPublicKey: 'A'.repeat(89) }, 'pushPublicKey'],
      ['pushAuthKey of 25', { ...PUSH, pushAuthKey: 'A'.repeat(25) }, 'pushAuthKey'],
      ['pushAuthKey as a number', { ...PUSH, pushAuthKey: 7 }, 'pushAuthKey'],
    ];
    it.each(bad)('%s → 400/107', async (_label, fields, key) => {
      expectInvalid(await alice.call('POST', '/account/device', { id: aliceDevice, ...fields }), key);
    });

    it('the same on a registration (no id): nothing registered', async () => {
      expectInvalid(await alice.call('POST', '/account/device', { name: 'x', pushCallback: 'http://example.com/push', pushPublicKey: PUSH.pushPublicKey, pushAuthKey: PUSH.pushAuthKey }), 'pushCallback');
      expectInvalid(await alice.call('POST', '/account/device', { name: 'x', availableCommands: { [OPEN_URI]: 'v'.repeat(2049) } }));
    });

    it('takes the largest values allowed (name 255, command value 2048) and keeps them', async () => {
      const big = { id: bobDevice, name: 'b'.repeat(255), availableCommands: { [OPEN_URI]: 'v'.repeat(2048) } };
      const res = await bob.call('POST', '/account/device', big);
      expect(res.status, JSON.stringify(res.body)).toBe(200);
      expect(res.body).toMatchObject({ name: big.name, availableCommands: big.availableCommands });
      const restore = await bob.call('POST', '/account/device', { id: bobDevice, name: 'bob', availableCommands: {} });
      expect(restore.status).toBe(200);
    });

    it('left both devices as they were', unchanged);
  });

  describe('device lists, commands and destroy', () => {
    it.each([
      ['limit=0', 'index=0&limit=0', 'limit'],
      ['limit=101', 'index=0&limit=101', 'limit'],
      ['limit=abc', 'limit=abc', 'limit'],
      ['limit=1.5', 'limit=1.5', 'limit'],
      ['index=-1', 'index=-1&limit=1', 'index'],
      ['index past 2^63 (bigint column)', 'index=99999999999999999999', 'index'],
      ['index=1e300', 'index=1e300', 'index'],
      ['index past 2^53', 'index=9007199254740993', 'index'],
      ['index twice', 'index=1&index=2', 'index'],
      ['index=x', 'index=x', 'index'],
      ['an unknown parameter', 'index=0&since=5', 'since'],
    ])('GET /account/device/commands with %s → 400/107', async (_label, query, key) => {
      expectInvalid(await alice.call('GET', `/account/device/commands?${query}`), key);
    });

    it('POST /account/device/destroy with an unknown id → 400/123, with a bad one → 107/108', async () => {
      expectFxaError(await alice.call('POST', '/account/device/destroy', { id: randomBytes(16).toString('hex') }), 400, 123);
      expectInvalid(await alice.call('POST', '/account/device/destroy', { id: 42 }), 'id');
      expectInvalid(await alice.call('POST', '/account/device/destroy', { id: [bobDevice] }), 'id');
      expectMissing(await alice.call('POST', '/account/device/destroy', {}), 'id');
    });

    it('POST /account/attached_client/destroy with unknown or malformed ids', async () => {
      expectFxaError(await alice.call('POST', '/account/attached_client/destroy', { deviceId: randomBytes(16).toString('hex') }), 400, 123);
      expectInvalid(await alice.call('POST', '/account/attached_client/destroy', { sessionTokenId: randomBytes(32).toString('hex') }), 'sessionTokenId');
      expectInvalid(await alice.call('POST', '/account/attached_client/destroy', { refreshTokenId: randomBytes(32).toString('hex') }), 'refreshTokenId');
      expectInvalid(await alice.call('POST', '/account/attached_client/destroy', { clientId: 'not-a-client' }), 'clientId');
      expectInvalid(await alice.call('POST', '/account/attached_client/destroy', { deviceId: 5 }), 'deviceId');
    });

    it('left both devices as they were', unchanged);
  });

  describe('POST /account/devices/invoke_command', () => {
    const invoke = (body: unknown, raw?: string) => alice.call('POST', '/account/devices/invoke_command', body, raw === undefined ? {} : { rawBody: raw });

    it('to an unknown device → 400/123', async () => {
      expectFxaError(await invoke({ target: randomBytes(16).toString('hex'), command: OPEN_URI, payload: { encrypted: 'x' } }), 400, 123);
    });

    it('with a command the target did not advertise → 400/157', async () => {
      expectFxaError(await invoke({ target: bobDevice, command: OPEN_URI, payload: { encrypted: 'x' } }), 400, 157);
      expectFxaError(await bob.call('POST', '/account/devices/invoke_command', { target: aliceDevice, command: 'https://identity.mozilla.com/cmd/close-uri/v1', payload: {} }), 400, 157);
    });

    const bad: [string, Record<string, unknown>, string][] = [
      ['payload as an array', { payload: [] }, 'payload'],
      ['payload as a string', { payload: 'x' }, 'payload'],
      ['payload null', { payload: null }, 'payload'],
      ['target not hex', { target: 'nothex' }, 'target'],
      ['target as a number', { target: 1 }, 'target'],
      ['command with a space', { command: 'open uri' }, 'command'],
      ['command of 101', { command: 'c'.repeat(101) }, 'command'],
      ['ttl negative', { ttl: -1 }, 'ttl'],
      ['ttl not an integer', { ttl: 1.5 }, 'ttl'],
      ['ttl as a string', { ttl: '60' }, 'ttl'],
      ['ttl over 30 days', { ttl: 30 * 24 * 3600 + 1 }, 'ttl'],
    ];
    it.each(bad)('%s → 400/107', async (_label, fields, key) => {
      expectInvalid(await invoke({ target: aliceDevice, command: OPEN_URI, payload: { encrypted: 'x' }, ...fields }), key);
    });

    it('queued nothing for either device', async () => {
      for (const u of [alice, bob]) {
        const res = await u.call('GET', '/account/device/commands?index=0&limit=100');
        expect(res.status, JSON.stringify(res.body)).toBe(200);
        expect(res.body).toMatchObject({ messages: [], last: true });
      }
    });
  });

  describe('POST /account/devices/notify', () => {
    const notify = (body: unknown) => alice.call('POST', '/account/devices/notify', body);
    const payload = { version: 1, command: 'sync:collection_changed', data: { collections: ['clients'] } };

    const bad: [string, Record<string, unknown>, string | undefined][] = [
      ['to as a number', { to: 5, payload }, 'to'],
      ['to some other word', { to: 'everyone', payload }, 'to'],
      ['to with a non-hex id', { to: ['zz'], payload }, 'to'],
      ['excluded with a list of targets', { to: [SOME_ID], excluded: [OTHER_ID], payload }, undefined],
      ['excluded as a string', { to: 'all', excluded: SOME_ID, payload }, 'excluded'],
      ['payload as an array', { to: 'all', payload: [] }, 'payload'],
      ['payload version 2', { to: 'all', payload: { ...payload, version: 2 } }, 'payload.version'],
      ['payload version as a string', { to: 'all', payload: { ...payload, version: '1' } }, 'payload.version'],
      ['payload command not a push command', { to: 'all', payload: { ...payload, command: 'Rm -rf' } }, 'payload.command'],
      ['collection_changed without collections', { to: 'all', payload: { version: 1, command: 'sync:collection_changed' } }, 'payload.data.collections'],
      ['collection_changed with an unknown collection', { to: 'all', payload: { ...payload, data: { collections: ['secrets'] } } }, 'payload.data.collections'],
      ['collection_changed with no collection', { to: 'all', payload: { ...payload, data: { collections: [] } } }, 'payload.data.collections'],
      ['payload with an unknown field', { to: 'all', payload: { ...payload, extra: 1 } }, 'extra'],
      ['TTL negative', { to: 'all', payload, TTL: -5 }, 'TTL'],
      ['TTL as a string', { to: 'all', payload, TTL: '60' }, 'TTL'],
    ];
    it.each(bad)('%s → 400/107', async (_label, body, key) => {
      expectInvalid(await notify(body), key);
    });

    it('a valid notification still goes through', async () => {
      const res = await notify({ to: 'all', excluded: [aliceDevice], payload, TTL: 60 });
      expect(res.status, JSON.stringify(res.body)).toBe(200);
    });
  });

  it('left both sessions and devices as they were', unchanged);
});

it('answered no request of this file with a 5xx', () => {
  expect(serverErrors()).toEqual([]);
});
