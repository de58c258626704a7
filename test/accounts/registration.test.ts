import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createInvite } from '../../src/accounts/registration.js';
import type { RawConfig } from '../../src/config.js';
import { FxaClient, TestUser } from '../helpers/fxa.js';
import { latestCode, outbox } from '../helpers/outbox.js';
import { startServer, testEngines, type Engine, type TestServer } from '../helpers/server.js';

// Who may sign up (FOXDEN_REGISTRATION) and when a sign-in must be confirmed by mail
// (FOXDEN_SIGNIN_CONFIRMATION), through the API as a client sees them.

function useAccountsServer(engine: Engine, overrides: RawConfig) {
  const ctx = { server: undefined as unknown as TestServer, dataDir: '', client: undefined as unknown as FxaClient };
  beforeAll(async () => {
    ctx.dataDir = mkdtempSync(join(tmpdir(), 'foxden-reg-'));
    ctx.server = await startServer(engine, { FOXDEN_DATA_DIR: ctx.dataDir, FOXDEN_RATE_LIMITS: 'off', ...overrides });
    ctx.client = new FxaClient(ctx.server.url);
  });
  afterAll(async () => ctx.server.close());
  return ctx;
}

async function signUp(ctx: { client: FxaClient; dataDir: string }, email: string, extra: Record<string, unknown> = {}) {
  const user = new TestUser(ctx.client, email, 'correct horse battery staple');
  const res = await user.create(extra);
  if (res.status === 200) {
    const verified = await user.verify(await latestCode(ctx.dataDir, 'verifyShortCode', email));
    expect(verified.status).toBe(200);
  }
  return { user, res };
}

describe.each(await testEngines())('registration on %s', (engine) => {
  describe('first (the default): the first confirmed account, then closed', () => {
    const ctx = useAccountsServer(engine, {});

    it('lets the first account in and then refuses with errno 202', async () => {
      const first = await signUp(ctx, 'owner@example.com');
      expect(first.res.status).toBe(200);
      const second = await signUp(ctx, 'stranger@example.com');
      expect(second.res.status).toBe(403);
      expect(second.res.body).toMatchObject({ code: 403, errno: 202, error: 'Forbidden' });
      const status = await ctx.client.call('POST', '/account/status', { email: 'stranger@example.com' });
      expect(status.body).toEqual({ exists: false });
    });

    it('still lets the owner sign in', async () => {
      const owner = new TestUser(ctx.client, 'owner@example.com', 'correct horse battery staple');
      expect((await owner.login()).status).toBe(200);
    });
  });

  describe('first: an abandoned, never-confirmed sign-up does not lock the owner out', () => {
    const ctx = useAccountsServer(engine, {});
    it('allows a second sign-up while the first is unconfirmed, and only the first to confirm owns the server', async () => {
      const squatter = new TestUser(ctx.client, 'squatter@example.com', 'whatever whatever');
      expect((await squatter.create()).status).toBe(200);
      const owner = await signUp(ctx, 'owner@example.com');
      expect(owner.res.status).toBe(200);
      // The owner confirmed first: the other sign-up can no longer be confirmed.
      const late = await squatter.verify(await latestCode(ctx.dataDir, 'verifyShortCode', 'squatter@example.com'));
      expect(late.status).toBe(403);
      expect(late.body.errno).toBe(202);
      expect((await squatter.call('GET', '/recovery_email/status')).body).toMatchObject({ emailVerified: false });
    });
  });

  describe('closed', () => {
    const ctx = useAccountsServer(engine, { FOXDEN_REGISTRATION: 'closed' });
    it('refuses every sign-up', async () => {
      const res = await new TestUser(ctx.client, 'a@example.com', 'password one two').create();
      expect(res.status).toBe(403);
      expect(res.body.errno).toBe(202);
    });
  });

  describe('allowlist', () => {
    const ctx = useAccountsServer(engine, { FOXDEN_REGISTRATION: 'allowlist', FOXDEN_REGISTRATION_ALLOWLIST: 'me@example.com, @family.example' });
    it('takes listed addresses and domains, case-insensitively, and nothing else', async () => {
      expect((await new TestUser(ctx.client, 'Me@Example.com', 'password one two').create()).status).toBe(200);
      expect((await new TestUser(ctx.client, 'kid@family.example', 'password one two').create()).status).toBe(200);
      const other = await new TestUser(ctx.client, 'kid@notfamily.example', 'password one two').create();
      expect(other.status).toBe(403);
      const sub = await new TestUser(ctx.client, 'x@sub.family.example', 'password one two').create();
      expect(sub.status).toBe(403);
    });
  });

  describe('invite', () => {
    const ctx = useAccountsServer(engine, { FOXDEN_REGISTRATION: 'invite' });
    it('needs a valid, unused invite code; one bound to an address only works for it', async () => {
      const db = ctx.server.app.database.db;
      const open = await createInvite(db);
      const bound = await createInvite(db, { email: 'Bound@Example.com' });
      const expired = await createInvite(db, { lifetimeMs: -1000 });

      expect((await new TestUser(ctx.client, 'none@example.com', 'password one two').create()).status).toBe(403);
      expect((await new TestUser(ctx.client, 'bad@example.com', 'password one two').create({ inviteCode: 'nope' })).status).toBe(403);
      expect((await new TestUser(ctx.client, 'late@example.com', 'password one two').create({ inviteCode: expired.code })).status).toBe(403);
      expect((await new TestUser(ctx.client, 'other@example.com', 'password one two').create({ inviteCode: bound.code })).status).toBe(403);

      expect((await new TestUser(ctx.client, 'guest@example.com', 'password one two').create({ inviteCode: open.code })).status).toBe(200);
      expect((await new TestUser(ctx.client, 'again@example.com', 'password one two').create({ inviteCode: open.code })).status).toBe(403);
      expect((await new TestUser(ctx.client, 'bound@example.com', 'password one two').create({ inviteCode: bound.code })).status).toBe(200);
    });
  });
});

describe.each(await testEngines())('sign-in confirmation on %s', (engine) => {
  describe('always', () => {
    const ctx = useAccountsServer(engine, { FOXDEN_REGISTRATION: 'open', FOXDEN_SIGNIN_CONFIRMATION: 'always' });
    it('asks for a mailed code on every sign-in, and keys wait for it', async () => {
      const { user } = await signUp(ctx, 'always@example.com');
      const { kB } = await user.fetchKB();
      const res = await user.login();
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ verified: false, sessionVerified: false, emailVerified: true, verificationMethod: 'email-otp', verificationReason: 'login' });
      expect((await user.fetchKB()).body.errno).toBe(104);
      expect((await user.verify(await latestCode(ctx.dataDir, 'verifyLoginCode'))).status).toBe(200);
      expect((await user.fetchKB()).kB).toBe(kB);
    });

    it('password_check sign-ins need no code', async () => {
      const user = new TestUser(ctx.client, 'always@example.com', 'correct horse battery staple');
      const res = await user.login({ reason: 'password_check' });
      expect(res.body).toMatchObject({ sessionVerified: true });
      expect(res.body.verificationMethod).toBeUndefined();
    });
  });

  describe('never', () => {
    const ctx = useAccountsServer(engine, { FOXDEN_REGISTRATION: 'open', FOXDEN_SIGNIN_CONFIRMATION: 'never' });
    it('signs in verified, and mails a new sign-in notice for a device it has not seen', async () => {
      const { user } = await signUp(ctx, 'never@example.com');
      const notices = () => outbox(ctx.dataDir).filter((m) => m.template === 'newDeviceLogin' && m.to === 'never@example.com').length;
      const res = await user.login();
      expect(res.body).toMatchObject({ verified: true, sessionVerified: true, emailVerified: true });
      expect(res.body.verificationMethod).toBeUndefined();
      expect((await user.fetchKB()).status).toBe(200);
      // The browser that signed up is known: no notice.
      const phone = { headers: { 'user-agent': 'Mozilla/5.0 (Android 14; Mobile; rv:153.0) Gecko/153.0 Firefox/153.0' } };
      const other = await ctx.client.call('POST', '/account/login', { email: user.email, authPW: user.authPW }, phone);
      expect(other.body).toMatchObject({ sessionVerified: true });
      await expect.poll(notices).toBe(1);
      const mail = outbox(ctx.dataDir).find((m) => m.template === 'newDeviceLogin')!;
      expect(mail.text).toContain('Firefox on Android');
      // Once that device has a session, signing in from it again is no news.
      await ctx.client.call('POST', '/account/login', { email: user.email, authPW: user.authPW }, phone);
      await new Promise((r) => setTimeout(r, 200));
      expect(notices()).toBe(1);
    });

    it('an unconfirmed account still has to confirm its address', async () => {
      const user = new TestUser(ctx.client, 'unconfirmed@example.com', 'password one two');
      await user.create();
      const res = await user.login();
      expect(res.body).toMatchObject({ verified: false, emailVerified: false, verificationMethod: 'email-otp', verificationReason: 'signup' });
    });
  });

  describe('new-device (the default)', () => {
    const ctx = useAccountsServer(engine, { FOXDEN_REGISTRATION: 'open' });
    it('skips the code for the browser and address of a confirmed session, asks for it otherwise', async () => {
      const { user } = await signUp(ctx, 'known@example.com');
      const same = await user.login();
      expect(same.body).toMatchObject({ sessionVerified: true });
      const other = await user.login(undefined);
      expect(other.body.sessionVerified).toBe(true);
      const fresh = await ctx.client.call(
        'POST',
        '/account/login?keys=true',
        { email: user.email, authPW: user.authPW },
        { headers: { 'user-agent': 'Mozilla/5.0 (Android 14; Mobile; rv:153.0) Gecko/153.0 Firefox/153.0' } },
      );
      expect(fresh.body).toMatchObject({ sessionVerified: false, verificationMethod: 'email-otp' });
    });
  });
});
