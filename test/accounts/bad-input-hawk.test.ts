import { randomBytes } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { accountState, expectFxaError, serverErrors, signHawk, useBadInputServer, verifiedUser } from '../helpers/bad-input.js';
import type { TestUser } from '../helpers/fxa.js';
import { testEngines } from '../helpers/server.js';

// Hawk on the session, key-fetch and account-token routes (fxa-auth.md 3.1): what is refused
// with 110 (no usable token) or 109 (a token, but a wrong signature), what upstream accepts
// (no payload hash, any clock skew), and that a refused request changes nothing.

describe.each(await testEngines())('bad input: Hawk (%s)', (engine) => {
  const env = useBadInputServer(engine);
  let user: TestUser;
  let deviceId: string;
  let before: Record<string, unknown>;
  const session = () => ({ data: user.sessionToken, type: 'sessionToken' as const });

  beforeAll(async () => {
    user = await verifiedUser(env, 'hawk');
    const device = await user.call('POST', '/account/device', { name: 'hawk device', type: 'desktop', availableCommands: {} });
    expect(device.status, JSON.stringify(device.body)).toBe(200);
    deviceId = device.body.id;
    before = await accountState(user);
  });

  const deviceUpdate = () => JSON.stringify({ id: deviceId, name: 'renamed by an attacker' });

  describe('no usable token → 401/110', () => {
    it.each([
      ['GET', '/session/status'],
      ['GET', '/account/profile'],
      ['GET', '/recovery_email/status'],
      ['GET', '/account/devices'],
      ['GET', '/account/attached_clients'],
      ['GET', '/totp/exists'],
      ['GET', '/account/keys'],
      ['GET', '/password/forgot/status'],
      ['POST', '/session/destroy'],
      ['POST', '/account/device'],
      ['POST', '/account/reset'],
      ['POST', '/password/change/finish'],
      ['POST', '/password/forgot/verify_code'],
      ['POST', '/password/forgot/resend_code'],
    ])('missing Authorization on %s %s', async (method, path) => {
      expectFxaError(await env.client.call(method, path, method === 'POST' ? {} : undefined), 401, 110);
    });

    it.each([
      ['empty', ''],
      ['scheme only', 'Hawk'],
      ['Basic', 'Basic dXNlcjpwYXNz'],
      ['id only', 'Hawk id="abc"'],
      ['no mac', `Hawk id="${'a'.repeat(64)}", ts="1700000000", nonce="abc"`],
      ['ts not a number', `Hawk id="${'a'.repeat(64)}", ts="soon", nonce="abc", mac="bWFj"`],
      ['attribute twice', `Hawk id="${'a'.repeat(64)}", id="${'b'.repeat(64)}", ts="1700000000", nonce="abc", mac="bWFj"`],
      ['unknown attribute', `Hawk id="${'a'.repeat(64)}", ts="1700000000", nonce="abc", mac="bWFj", evil="1"`],
      ['unquoted values', `Hawk id=${'a'.repeat(64)}, ts=1700000000, nonce=abc, mac=bWFj`],
      ['id not hex', `Hawk id="${'z'.repeat(64)}", ts="1700000000", nonce="abc", mac="bWFj"`],
      ['id too short', `Hawk id="${'a'.repeat(62)}", ts="1700000000", nonce="abc", mac="bWFj"`],
      ['a long header', `Hawk id="${'a'.repeat(4000)}", ts="1", nonce="x", mac="y"`],
      ['Bearer (not taken here)', `Bearer ${'a'.repeat(64)}`],
    ])('malformed header: %s', async (_label, header) => {
      expectFxaError(await env.client.call('GET', '/session/status', undefined, { authorization: header }), 401, 110);
    });

    it.each([
      ['Bearer not hex', 'Bearer xyz'],
      ['Bearer unknown refresh token', `Bearer ${randomBytes(32).toString('hex')}`],
      ['Bearer with the session token itself', () => `Bearer ${user.sessionToken}`],
    ])('device routes with %s', async (_label, header) => {
      const authorization = typeof header === 'function' ? header() : header;
      expectFxaError(await env.client.call('GET', '/account/devices', undefined, { authorization }), 401, 110);
    });

    it('an unknown token id, correctly signed', async () => {
      const stranger = { data: randomBytes(32).toString('hex'), type: 'sessionToken' as const };
      expectFxaError(await env.client.call('GET', '/session/status', undefined, { token: stranger }), 401, 110);
      const authorization = await signHawk(env, { method: 'POST', path: '/account/device', token: stranger, body: deviceUpdate() });
      expectFxaError(await env.client.call('POST', '/account/device', undefined, { authorization, rawBody: deviceUpdate() }), 401, 110);
    });

    it('a key-fetch, password-forgot or account-reset token on a session route', async () => {
      for (const type of ['keyFetchToken', 'passwordForgotToken', 'accountResetToken', 'passwordChangeToken'] as const) {
        // The same token data under another type derives another id: nothing by that id is a session.
        const res = await env.client.call('GET', '/session/status', undefined, { token: { data: user.sessionToken, type } });
        expectFxaError(res, 401, 110);
      }
    });

    it('a session token on /account/keys and on the account-token routes', async () => {
      expectFxaError(await user.call('GET', '/account/keys'), 401, 110);
      expectFxaError(await user.call('GET', '/password/forgot/status'), 401, 110);
      expectFxaError(await user.call('POST', '/account/reset', { authPW: 'ab'.repeat(32) }), 401, 110);
      expectFxaError(await user.call('POST', '/password/change/finish', { authPW: 'ab'.repeat(32), wrapKb: 'cd'.repeat(32) }), 401, 110);
      expectFxaError(await user.call('POST', '/password/forgot/verify_code', { code: 'ab'.repeat(16) }), 401, 110);
    });
  });

  describe('a known token with a wrong signature → 401/109', () => {
    it('wrong key', async () => {
      const authorization = await signHawk(env, { method: 'GET', path: '/session/status', token: session(), keyHex: randomBytes(32).toString('hex') });
      expectFxaError(await env.client.call('GET', '/session/status', undefined, { authorization }), 401, 109);
    });

    it('signed for another path', async () => {
      const authorization = await signHawk(env, { method: 'GET', path: '/recovery_email/status', token: session() });
      expectFxaError(await env.client.call('GET', '/session/status', undefined, { authorization }), 401, 109);
    });

    it('signed for another query', async () => {
      const authorization = await signHawk(env, { method: 'GET', path: '/account/devices?filterIdleDevicesTimestamp=1', token: session() });
      expectFxaError(await env.client.call('GET', '/account/devices?filterIdleDevicesTimestamp=2', undefined, { authorization }), 401, 109);
    });

    it('signed for another method', async () => {
      const authorization = await signHawk(env, { method: 'POST', path: '/session/status', token: session() });
      expectFxaError(await env.client.call('GET', '/session/status', undefined, { authorization }), 401, 109);
    });

    it('signed for another host', async () => {
      const authorization = await signHawk(env, { method: 'GET', path: '/session/status', token: session(), host: 'accounts.example.com' });
      expectFxaError(await env.client.call('GET', '/session/status', undefined, { authorization }), 401, 109);
    });

    it('signed for another port', async () => {
      const authorization = await signHawk(env, { method: 'GET', path: '/session/status', token: session(), port: env.server.port + 1 });
      expectFxaError(await env.client.call('GET', '/session/status', undefined, { authorization }), 401, 109);
    });

    it('a MAC that is not base64', async () => {
      const good = await signHawk(env, { method: 'GET', path: '/session/status', token: session() });
      const authorization = good.replace(/mac="[^"]*"/, 'mac="not a mac"');
      expectFxaError(await env.client.call('GET', '/session/status', undefined, { authorization }), 401, 109);
    });

    it('a signed POST whose body was changed after signing (payload hash mismatch)', async () => {
      const signed = JSON.stringify({ id: deviceId, name: 'hawk device' });
      const authorization = await signHawk(env, { method: 'POST', path: '/account/device', token: session(), body: signed });
      const res = await env.client.call('POST', '/account/device', undefined, { authorization, rawBody: deviceUpdate() });
      expectFxaError(res, 401, 109);
    });

    it('a payload hash over another content type', async () => {
      const body = deviceUpdate();
      const authorization = await signHawk(env, { method: 'POST', path: '/account/device', token: session(), body, contentType: 'text/plain' });
      expectFxaError(await env.client.call('POST', '/account/device', undefined, { authorization, rawBody: body }), 401, 109);
    });

    it('a tampered body on session/destroy leaves the session alive', async () => {
      const authorization = await signHawk(env, { method: 'POST', path: '/session/destroy', token: session(), body: '{}' });
      expectFxaError(await env.client.call('POST', '/session/destroy', undefined, { authorization, rawBody: '{ }' }), 401, 109);
    });

    it('left the account, session and device as they were', async () => {
      expect(await accountState(user)).toEqual(before);
    });
  });

  describe('what upstream accepts', () => {
    it('a signed POST without a payload hash', async () => {
      const body = JSON.stringify({ id: deviceId, name: 'hash-less' });
      const authorization = await signHawk(env, { method: 'POST', path: '/account/device', token: session() });
      expect(authorization).not.toContain('hash=');
      const res = await env.client.call('POST', '/account/device', undefined, { authorization, rawBody: body });
      expect(res.status, JSON.stringify(res.body)).toBe(200);
      expect(res.body.name).toBe('hash-less');
      const back = await user.call('POST', '/account/device', { id: deviceId, name: 'hawk device' });
      expect(back.status).toBe(200);
    });

    it.each([
      ['3 days behind', -3 * 86400],
      ['3 days ahead', 3 * 86400],
      ['a year behind', -365 * 86400],
    ])('a timestamp %s', async (_label, offset) => {
      const ts = Math.floor(Date.now() / 1000) + offset;
      const authorization = await signHawk(env, { method: 'GET', path: '/session/status', token: session(), ts });
      const res = await env.client.call('GET', '/session/status', undefined, { authorization });
      expect(res.status, JSON.stringify(res.body)).toBe(200);
      const body = JSON.stringify({ id: deviceId, name: 'hawk device' });
      const post = await signHawk(env, { method: 'POST', path: '/account/device', token: session(), ts, body });
      expect((await env.client.call('POST', '/account/device', undefined, { authorization: post, rawBody: body })).status).toBe(200);
    });

    it('the same signed request twice (no nonce cache)', async () => {
      const authorization = await signHawk(env, { method: 'GET', path: '/session/status', token: session() });
      expect((await env.client.call('GET', '/session/status', undefined, { authorization })).status).toBe(200);
      expect((await env.client.call('GET', '/session/status', undefined, { authorization })).status).toBe(200);
    });

    it('still reads back the same account', async () => {
      expect(await accountState(user)).toEqual(before);
    });
  });
});

it('answered no request of this file with a 5xx', () => {
  expect(serverErrors()).toEqual([]);
});
