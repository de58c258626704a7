import { beforeAll, describe, expect, it } from 'vitest';
import { accountState, expectFxaError, expectInvalid, freshEmail, serverErrors, useBadInputServer, verifiedUser } from '../helpers/bad-input.js';
import { TestUser } from '../helpers/fxa.js';
import { testEngines } from '../helpers/server.js';

// With rate limits on (the default): the sixth sign-in from one address to one account is
// blocked with 125 and an e-mailed unblock code lets it through (127 for a wrong code), and
// too many /account/status checks get 429/114 with Retry-After.

describe.each(await testEngines())('bad input: rate limits and unblock codes (%s)', (engine) => {
  const env = useBadInputServer(engine, { FOXDEN_RATE_LIMITS: 'on' });
  let user: TestUser;

  beforeAll(async () => {
    user = await verifiedUser(env, 'limits');
  });

  const signIn = (extra: Record<string, unknown> = {}) => new TestUser(env.client, user.email, user.password).login(extra);
  const sessionCount = async () => (await user.call('GET', '/account/attached_clients')).body.length as number;

  describe('login blocked, then unblocked by code', () => {
    let sessions: number;

    it('allows five sign-ins from this address', async () => {
      for (let i = 1; i <= 5; i++) {
        const res = await signIn();
        expect(res.status, `sign-in ${i}: ${JSON.stringify(res.body)}`).toBe(200);
      }
      sessions = await sessionCount();
      expect(sessions).toBe(6);
    });

    it('blocks the sixth with 400/125 and verificationMethod email-captcha, creating no session', async () => {
      expectFxaError(await signIn(), 400, 125, { verificationMethod: 'email-captcha', verificationReason: 'login' });
      expect(await sessionCount()).toBe(sessions);
    });

    it('still answers an unknown e-mail from the same address with 102 (the block is per account)', async () => {
      const stranger = new TestUser(env.client, freshEmail('stranger'), 'whatever password');
      expectFxaError(await stranger.login(), 400, 102);
    });

    it('refuses an unblock code before any was sent (127), and a malformed one (107)', async () => {
      expectFxaError(await signIn({ unblockCode: 'ABCD2345' }), 400, 127);
      expectInvalid(await signIn({ unblockCode: 'abc' }), 'unblockCode');
      expectInvalid(await signIn({ unblockCode: 'ABCD-234' }), 'unblockCode');
      expect(await sessionCount()).toBe(sessions);
    });

    it('mails an 8-character code; a wrong code gets 127, the right one signs in, once', async () => {
      const sent = await env.client.call('POST', '/account/login/send_unblock_code', { email: user.email });
      expect(sent.status, JSON.stringify(sent.body)).toBe(200);
      expect(sent.body).toEqual({});
      const code = env.outbox.code('unblockCode', user.email);
      expect(code).toMatch(/^[A-Z0-9]{8}$/);

      const wrong = code.replace(/^./, (c) => (c === 'A' ? 'B' : 'A'));
      expectFxaError(await signIn({ unblockCode: wrong }), 400, 127);
      expect(await sessionCount()).toBe(sessions);

      const ok = await signIn({ unblockCode: code });
      expect(ok.status, JSON.stringify(ok.body)).toBe(200);
      expect(ok.body.uid).toBe(user.uid);
      expect(await sessionCount()).toBe(sessions + 1);

      // Single use: the same code again is refused, and the block itself goes on.
      expectFxaError(await signIn({ unblockCode: code }), 400, 127);
      expectFxaError(await signIn(), 400, 125, { verificationMethod: 'email-captcha' });
    });

    it('answers send_unblock_code for an unknown e-mail the same way, without a mail', async () => {
      const before = env.outbox.count('unblockCode');
      const res = await env.client.call('POST', '/account/login/send_unblock_code', { email: freshEmail('nobody') });
      expect(res.status).toBe(200);
      expect(res.body).toEqual({});
      expect(env.outbox.count('unblockCode')).toBe(before);
    });

    it('left the first session as it was', async () => {
      const state = await accountState(user);
      expect(state['/session/status']).toMatchObject({ state: 'verified', uid: user.uid });
    });
  });

  describe('/account/status checks', () => {
    it('allows 100 from one address, then 429/114 with retryAfter and Retry-After', async () => {
      for (let i = 1; i <= 100; i += 10) {
        const batch = await Promise.all(
          Array.from({ length: 10 }, (_, j) =>
            (i + j) % 2 === 0
              ? env.client.call('POST', '/account/status', { email: freshEmail('probe') })
              : env.client.call('GET', `/account/status?uid=${user.uid}`),
          ),
        );
        for (const [j, res] of batch.entries()) expect(res.status, `check ${i + j}: ${JSON.stringify(res.body)}`).toBe(200);
      }

      const refused = await env.client.call('POST', '/account/status', { email: user.email });
      expectFxaError(refused, 429, 114);
      const retryAfter = refused.body.retryAfter as number;
      expect(Number.isInteger(retryAfter)).toBe(true);
      expect(retryAfter).toBeGreaterThan(0);
      expect(retryAfter).toBeLessThanOrEqual(15 * 60);
      expect(typeof refused.body.retryAfterLocalized).toBe('string');
      expect(refused.headers.get('retry-after')).toBe(String(retryAfter));

      // By uid too: the limit is the address's.
      const byUid = await env.client.call('GET', `/account/status?uid=${user.uid}`);
      expectFxaError(byUid, 429, 114);
      expect(byUid.headers.get('retry-after')).toMatch(/^\d+$/);
    });

    it('still serves the account itself through its session', async () => {
      expect((await user.call('GET', '/session/status')).status).toBe(200);
      expect((await user.call('GET', '/account/profile')).body).toMatchObject({ email: user.email });
    });
  });
});

it('answered no request of this file with a 5xx', () => {
  expect(serverErrors()).toEqual([]);
});
