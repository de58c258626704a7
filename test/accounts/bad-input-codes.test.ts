import { beforeAll, describe, expect, it } from 'vitest';
import { accountState, expectFxaError, expectInvalid, expectMissing, freshEmail, serverErrors, signHawk, useBadInputServer, verifiedUser } from '../helpers/bad-input.js';
import { TestUser, tokenId } from '../helpers/fxa.js';
import { testEngines } from '../helpers/server.js';

// Single-use tokens and mailed codes under misuse: key-fetch tokens before verification and on
// replay, wrong 6-digit codes up to the attempt cap, wrong forgot-password OTPs and passCodes
// (3 tries), and bad bodies on the token-authenticated password routes, which must leave both
// the token and the password as they were.

/** A code that is certainly not `code` (same length, digits only). */
function wrongCode(code: string): string {
  const n = (Number(code) + 1) % 10 ** code.length;
  return String(n).padStart(code.length, '0');
}

describe.each(await testEngines())('bad input: tokens and codes (%s)', (engine) => {
  const env = useBadInputServer(engine);

  describe('key-fetch token and sign-up code', () => {
    const user = {} as { u: TestUser; code: string; keyFetchToken: string };

    beforeAll(async () => {
      user.u = new TestUser(env.client, freshEmail('codes'), 'a password for codes');
      const created = await user.u.create();
      expect(created.status, JSON.stringify(created.body)).toBe(200);
      user.keyFetchToken = created.body.keyFetchToken;
      user.code = env.outbox.code('verifyShortCode', user.u.email);
    });

    const keys = () => env.client.call('GET', '/account/keys', undefined, { token: { data: user.keyFetchToken, type: 'keyFetchToken' } });

    it('refuses /account/keys before verification with 400/104, without using up the token', async () => {
      expectFxaError(await keys(), 400, 104);
      expectFxaError(await keys(), 400, 104);
    });

    it('refuses the key-fetch token on session routes with 401/110', async () => {
      const kf = { token: { data: user.keyFetchToken, type: 'keyFetchToken' as const } };
      expectFxaError(await env.client.call('GET', '/session/status', undefined, kf), 401, 110);
      expectFxaError(await env.client.call('POST', '/session/verify_code', { code: user.code }, kf), 401, 110);
      expectFxaError(await env.client.call('GET', '/account/devices', undefined, kf), 401, 110);
    });

    it('refuses a malformed code with 107 without counting it', async () => {
      for (const code of ['12345', '1234567', 'abcdef', '']) expectInvalid(await user.u.verify(code), 'code');
    });

    it('refuses a wrong code with 400/183; the session stays unverified', async () => {
      expectFxaError(await user.u.verify(wrongCode(user.code)), 400, 183);
      const status = await user.u.call('GET', '/session/status');
      expect(status.body.state).toBe('unverified');
      expect((await user.u.call('GET', '/recovery_email/status')).body).toMatchObject({ verified: false, emailVerified: false });
    });

    it('voids the code after 5 wrong ones: the right one then gets 183 too', async () => {
      // One wrong code above, four more here.
      for (let i = 2; i <= 5; i++) expectFxaError(await user.u.verify(wrongCode(user.code)), 400, 183);
      expectFxaError(await user.u.verify(user.code), 400, 183);
      expect((await user.u.call('GET', '/session/status')).body.state).toBe('unverified');
      expectFxaError(await keys(), 400, 104);
    });

    it('a link code for another uid or a wrong one gets 102/105', async () => {
      expectFxaError(await env.client.call('POST', '/recovery_email/verify_code', { uid: 'f'.repeat(32), code: user.code }), 400, 102);
      expectFxaError(await env.client.call('POST', '/recovery_email/verify_code', { uid: user.u.uid, code: 'e'.repeat(32) }), 400, 105);
    });

    it('sends a new code on resend_code, and that one works', async () => {
      const resend = await user.u.call('POST', '/session/resend_code', {});
      expect(resend.status, JSON.stringify(resend.body)).toBe(200);
      const fresh = env.outbox.code('verifyShortCode', user.u.email);
      expectFxaError(await user.u.verify(wrongCode(fresh)), 400, 183);
      const ok = await user.u.verify(fresh);
      expect(ok.status, JSON.stringify(ok.body)).toBe(200);
      expect((await user.u.call('GET', '/session/status')).body.state).toBe('verified');
    });

    it('hands out the keys once the account is verified, then refuses a replay with 401/110', async () => {
      user.u.keyFetchToken = user.keyFetchToken;
      const first = await user.u.fetchKB();
      expect(first.status, JSON.stringify(first.body)).toBe(200);
      expect(first.kB).toMatch(/^[0-9a-f]{64}$/);
      expectFxaError(await keys(), 401, 110);
    });
  });

  describe('forgot password, reset and change tokens', () => {
    let user: TestUser;
    let before: Record<string, unknown>;

    beforeAll(async () => {
      user = await verifiedUser(env, 'forgot');
      before = await accountState(user);
    });

    async function forgotToken(): Promise<{ token: string; passCode: string }> {
      expect((await env.client.call('POST', '/password/forgot/send_otp', { email: user.email })).status).toBe(200);
      const otp = env.outbox.code('passwordForgotOtp', user.email);
      const res = await env.client.call('POST', '/password/forgot/verify_otp', { email: user.email, code: otp });
      expect(res.status, JSON.stringify(res.body)).toBe(200);
      return { token: res.body.token, passCode: res.body.code };
    }

    it('refuses a wrong OTP with 400/183 and the right one still works afterwards', async () => {
      expect((await env.client.call('POST', '/password/forgot/send_otp', { email: user.email })).status).toBe(200);
      const otp = env.outbox.code('passwordForgotOtp', user.email);
      expectFxaError(await env.client.call('POST', '/password/forgot/verify_otp', { email: user.email, code: wrongCode(otp) }), 400, 183);
      expectFxaError(await env.client.call('POST', '/password/forgot/verify_otp', { email: freshEmail('nobody'), code: otp }), 400, 183);
      const ok = await env.client.call('POST', '/password/forgot/verify_otp', { email: user.email, code: otp });
      expect(ok.status, JSON.stringify(ok.body)).toBe(200);
      // Single use.
      expectFxaError(await env.client.call('POST', '/password/forgot/verify_otp', { email: user.email, code: otp }), 400, 183);
    });

    it('refuses a wrong passCode with 400/105; after 3 the forgot token is dead (401/110)', async () => {
      const { token, passCode } = await forgotToken();
      const pf = { token: { data: token, type: 'passwordForgotToken' as const } };
      const status = () => env.client.call('GET', '/password/forgot/status', undefined, pf);
      expect((await status()).body).toMatchObject({ tries: 3 });

      // Malformed bodies are not tries.
      expectMissing(await env.client.call('POST', '/password/forgot/verify_code', {}, pf), 'code');
      expectInvalid(await env.client.call('POST', '/password/forgot/verify_code', { code: 'zz'.repeat(16) }, pf), 'code');
      expectInvalid(await env.client.call('POST', '/password/forgot/verify_code', { code: passCode, bogus: 1 }, pf), 'bogus');
      expectMissing(await env.client.call('POST', '/password/forgot/resend_code', {}, pf), 'email');
      expect((await status()).body).toMatchObject({ tries: 3 });

      const wrong = passCode.replace(/^./, (c) => (c === '0' ? '1' : '0'));
      expectFxaError(await env.client.call('POST', '/password/forgot/verify_code', { code: wrong }, pf), 400, 105);
      expect((await status()).body).toMatchObject({ tries: 2 });
      expectFxaError(await env.client.call('POST', '/password/forgot/verify_code', { code: wrong }, pf), 400, 105);
      expect((await status()).body).toMatchObject({ tries: 1 });
      expectFxaError(await env.client.call('POST', '/password/forgot/verify_code', { code: wrong }, pf), 400, 105);
      expectFxaError(await status(), 401, 110);
      expectFxaError(await env.client.call('POST', '/password/forgot/verify_code', { code: passCode }, pf), 401, 110);
    });

    it('refuses bad bodies on /account/reset and leaves the reset token usable', async () => {
      const { token, passCode } = await forgotToken();
      const pf = { token: { data: token, type: 'passwordForgotToken' as const } };
      const reset = await env.client.call('POST', '/password/forgot/verify_code', { code: passCode }, pf);
      expect(reset.status, JSON.stringify(reset.body)).toBe(200);
      expectFxaError(await env.client.call('POST', '/password/forgot/verify_code', { code: passCode }, pf), 401, 110);

      const ar = { token: { data: reset.body.accountResetToken as string, type: 'accountResetToken' as const } };
      const call = (body: unknown, path = '/account/reset', raw?: string) =>
        env.client.call('POST', path, body, { ...ar, ...(raw !== undefined ? { rawBody: raw } : {}) });
      expectMissing(await call({}), 'authPW');
      expectMissing(await call({ sessionToken: true }), 'authPW');
      expectInvalid(await call({ authPW: 'ab'.repeat(32), bogus: 1 }), 'bogus');
      expectInvalid(await call({ authPW: 'ab'.repeat(31) + 'a' }), 'authPW');
      expectInvalid(await call({ authPW: 'xy'.repeat(32) }), 'authPW');
      expectInvalid(await call({ authPW: 'ab'.repeat(32), sessionToken: 'yes' }), 'sessionToken');
      expectInvalid(await call({ authPW: 'ab'.repeat(32), wrapKb: 'cd'.repeat(32) }), 'wrapKb');
      expectInvalid(await call({ authPW: 'ab'.repeat(32) }, '/account/reset?keys=please'), 'keys');
      expectInvalid(await call(undefined, '/account/reset', '[]'));
      expectFxaError(await call(undefined, '/account/reset', '{"authPW":'), 400, 106);
      // Signed over one body, sent with another.
      const authorization = await signHawk(env, { method: 'POST', path: '/account/reset', token: ar.token, body: '{}' });
      const tampered = await env.client.call('POST', '/account/reset', undefined, { authorization, rawBody: JSON.stringify({ authPW: 'ab'.repeat(32) }) });
      expectFxaError(tampered, 401, 109);
      // Still alive: a bad body is still judged as a body, not as a dead token.
      expectMissing(await call({}), 'authPW');
      expect(await accountState(user)).toEqual(before);
    });

    it('refuses bad bodies on /password/change/finish and leaves the change token usable', async () => {
      const start = await user.call('POST', '/password/change/start', { email: user.email, oldAuthPW: user.authPW });
      expect(start.status, JSON.stringify(start.body)).toBe(200);
      const pc = { token: { data: start.body.passwordChangeToken as string, type: 'passwordChangeToken' as const } };
      const finish = (body: unknown, path = '/password/change/finish') => env.client.call('POST', path, body, pc);
      const sessionId = await tokenId(user.sessionToken, 'sessionToken');
      expectMissing(await finish({}), 'authPW');
      expectMissing(await finish({ authPW: 'ab'.repeat(32) }), 'wrapKb');
      expectInvalid(await finish({ authPW: 'ab'.repeat(32), wrapKb: 'cd'.repeat(31) }), 'wrapKb');
      expectInvalid(await finish({ authPW: 'ab'.repeat(32), wrapKb: 'cd'.repeat(32), sessionToken: 'me' }), 'sessionToken');
      expectInvalid(await finish({ authPW: 'ab'.repeat(32), wrapKb: 'cd'.repeat(32), sessionToken: sessionId, bogus: 1 }), 'bogus');
      expectInvalid(await finish({ authPW: 42, wrapKb: 'cd'.repeat(32) }), 'authPW');
      expectInvalid(await finish({ authPW: 'ab'.repeat(32), wrapKb: 'cd'.repeat(32) }, '/password/change/finish?keys=1'), 'keys');
      // The change token is not a session, and a session is not a change token.
      expectFxaError(await env.client.call('GET', '/session/status', undefined, pc), 401, 110);
      // Still alive.
      expectMissing(await finish({}), 'authPW');
      expect(await accountState(user)).toEqual(before);
    });

    it('still signs in with the old password', async () => {
      const again = new TestUser(env.client, user.email, user.password);
      const login = await again.login();
      expect(login.status, JSON.stringify(login.body)).toBe(200);
      expect(login.body.uid).toBe(user.uid);
    });
  });
});

it('answered no request of this file with a 5xx', () => {
  expect(serverErrors()).toEqual([]);
});
