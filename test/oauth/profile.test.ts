import { generateKeyPair, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { expectFxaError, serverErrors, useBadInputServer, verifiedUser } from '../helpers/bad-input.js';
import type { TestUser } from '../helpers/fxa.js';
import { LocalPushService, waitForPush } from '../helpers/push.js';
import { testEngines } from '../helpers/server.js';
import { accessToken, call, FIREFOX_CLIENT_ID, serverErrorsSeen, pushDevice } from './profile-helpers.js';

// The profile server (fxa-auth.md 8.1) the way Firefox uses it (firefox-client.md 3.1, 3.3):
// GET /v1/profile with a Bearer token, ETag and If-None-Match, 401 (never 403) for a token that
// is no good so that Firefox fetches a new one, and the smaller routes other clients use.

const OLDSYNC = 'https://identity.mozilla.com/apps/oldsync';

describe.each(await testEngines())('profile server (%s)', (engine) => {
  const env = useBadInputServer(engine);
  const push = new LocalPushService();
  let user: TestUser;
  let token: string;

  beforeAll(async () => {
    await push.start();
    user = await verifiedUser(env, 'profile');
    token = await accessToken(env.server, user.uid, ['profile']);
  });
  afterAll(async () => {
    await push.close();
    expect(serverErrors()).toEqual([]);
    expect(serverErrorsSeen()).toEqual([]);
  });

  const get = (path: string, t = token, headers: Record<string, string> = {}) => call(env.server, 'GET', `/profile/v1${path}`, { token: t, headers });

  it('GET /v1/profile answers what Firefox reads, with a strong ETag', async () => {
    const res = await get('/profile');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    // The locale is the one the account was created with (fetch sends Accept-Language: *).
    const { locale } = await env.server.app.accounts.db.selectFrom('accounts').select('locale').where('uid', '=', user.uid).executeTakeFirstOrThrow();
    expect(res.body).toEqual({
      uid: user.uid,
      email: user.email,
      ...(locale ? { locale } : {}),
      amrValues: ['pwd', 'email'],
      twoFactorAuthentication: false,
      avatar: expect.stringMatching(new RegExp(`^${env.server.url}/profile/a/default/[0-9a-f]{6}$`)),
      avatarDefault: true,
      subscriptions: [],
      metricsEnabled: false,
    });
    expect(res.headers.get('etag')).toMatch(/^"[A-Za-z0-9_-]{32}"$/);
    expect(res.headers.get('cache-control')).toBe('private, no-cache');
    // The same profile gives the same ETag.
    expect((await get('/profile')).headers.get('etag')).toBe(res.headers.get('etag'));
  });

  it('answers 304 to If-None-Match with the current ETag, and the ETag follows display name changes', async () => {
    const first = await get('/profile');
    const etag = first.headers.get('etag')!;
    const again = await get('/profile', token, { 'if-none-match': etag });
    expect(again.status).toBe(304);
    expect(again.bytes.length).toBe(0);
    expect(again.headers.get('etag')).toBe(etag);
    // Weak comparison and lists, as RFC 9110 asks.
    expect((await get('/profile', token, { 'if-none-match': `"nope", W/${etag}` })).status).toBe(304);
    expect((await get('/profile', token, { 'if-none-match': '"something-else"' })).status).toBe(200);

    const write = await accessToken(env.server, user.uid, ['profile:write']);
    expect((await call(env.server, 'POST', '/profile/v1/display_name', { token: write, json: { displayName: 'Fox Mulder' } })).status).toBe(200);
    const changed = await get('/profile', token, { 'if-none-match': etag });
    expect(changed.status).toBe(200);
    expect(changed.body.displayName).toBe('Fox Mulder');
    expect(changed.headers.get('etag')).not.toBe(etag);
    expect((await get('/profile', token, { 'if-none-match': changed.headers.get('etag')! })).status).toBe(304);
  });

  it('returns only the fields the scopes cover; openid adds sub', async () => {
    const fields = async (scope: string[]) => {
      const res = await get('/profile', await accessToken(env.server, user.uid, scope));
      expect(res.status, JSON.stringify(res.body)).toBe(200);
      return res.body;
    };
    expect(await fields(['profile:email'])).toEqual({ email: user.email, metricsEnabled: false });
    expect(await fields(['profile:uid', 'profile:avatar'])).toEqual({ uid: user.uid, avatar: expect.any(String), avatarDefault: true });
    expect(await fields(['profile:amr'])).toEqual({ amrValues: ['pwd', 'email'], twoFactorAuthentication: false, metricsEnabled: false });
    expect(await fields(['openid'])).toEqual({ sub: user.uid });
    expect(await fields(['openid', 'email'])).toEqual({ sub: user.uid, email: user.email });
    const all = await fields(['profile', 'openid']);
    expect(all).toMatchObject({ uid: user.uid, sub: user.uid, email: user.email, avatarDefault: true });

    // A token for Sync only is not a profile token.
    const sync = await get('/profile', await accessToken(env.server, user.uid, [OLDSYNC]));
    expectFxaError(sync, 403, 100);
    expect(sync.headers.get('www-authenticate')).toMatch(/insufficient_scope/);
  });

  it('GET /v1/email and /v1/uid need their scopes', async () => {
    expect((await get('/email')).body).toEqual({ email: user.email });
    expect((await get('/uid')).body).toEqual({ uid: user.uid });
    const emailOnly = await accessToken(env.server, user.uid, ['profile:email']);
    expect((await get('/email', emailOnly)).body).toEqual({ email: user.email });
    expectFxaError(await get('/uid', emailOnly), 403, 100);
    const uidOnly = await accessToken(env.server, user.uid, ['profile:uid']);
    expectFxaError(await get('/email', uidOnly), 403, 100);
    expectFxaError(await get('/display_name', uidOnly), 403, 100);
    expectFxaError(await get('/avatar', uidOnly), 403, 100);
    // OpenID Connect's email scope reads the address.
    expect((await get('/email', await accessToken(env.server, user.uid, ['email']))).body).toEqual({ email: user.email });
  });

  it('display_name: 204 when unset, POST needs a write scope, validates, and clears with ""', async () => {
    const other = await verifiedUser(env, 'dn');
    const read = await accessToken(env.server, other.uid, ['profile']);
    const write = await accessToken(env.server, other.uid, ['profile:display_name:write']);
    const none = await get('/display_name', read);
    expect(none.status).toBe(204);
    expect(none.bytes.length).toBe(0);

    const post = (t: string, json: unknown) => call(env.server, 'POST', '/profile/v1/display_name', { token: t, json });
    // 'profile' reads but does not write.
    expectFxaError(await post(read, { displayName: 'Nope' }), 403, 100);
    const before = await env.server.app.accounts.db.selectFrom('accounts').select('profile_changed_at').where('uid', '=', other.uid).executeTakeFirstOrThrow();
    const ok = await post(write, { displayName: 'Dana Scully 🦊‍🔥' });
    expect(ok.status).toBe(200);
    expect(ok.body).toEqual({});
    expect((await get('/display_name', read)).body).toEqual({ displayName: 'Dana Scully 🦊‍🔥' });
    const after = await env.server.app.accounts.db.selectFrom('accounts').select('profile_changed_at').where('uid', '=', other.uid).executeTakeFirstOrThrow();
    expect(Number(after.profile_changed_at)).toBeGreaterThan(Number(before.profile_changed_at));

    for (const bad of [{ displayName: 'x'.repeat(257) }, { displayName: 'tab\there' }, { displayName: 'new\nline' }, { displayName: 'rtl\u202eevil' }, { displayName: 42 }, {}]) {
      expectFxaError(await post(write, bad), 400, 101);
    }
    expectFxaError(await call(env.server, 'POST', '/profile/v1/display_name', { token: write, body: '{not json', contentType: 'application/json' }), 400, 101);
    expectFxaError(await call(env.server, 'POST', '/profile/v1/display_name', { token: write, body: 'x'.repeat(10_000), contentType: 'application/json' }), 400, 101);
    expect((await post(write, { displayName: 'x'.repeat(256) })).status).toBe(200);
    expect((await post(write, { displayName: '' })).status).toBe(200);
    expect((await get('/display_name', read)).status).toBe(204);
    expect((await get('/profile', read)).body.displayName).toBeUndefined();
  });

  it('pushes fxaccounts:profile_updated to the devices when the display name changes', async () => {
    const sub = await pushDevice(user, push, 'profile-device');
    const write = await accessToken(env.server, user.uid, ['profile:display_name:write']);
    expect((await call(env.server, 'POST', '/profile/v1/display_name', { token: write, json: { displayName: 'Pushed' } })).status).toBe(200);
    const msg = await waitForPush(sub, 'fxaccounts:profile_updated');
    expect(msg.payload).toEqual({ version: 1, command: 'fxaccounts:profile_updated' });
    expect(msg.ttl).toBe(0);
    // Setting the same name again changes nothing and pushes nothing.
    expect((await call(env.server, 'POST', '/profile/v1/display_name', { token: write, json: { displayName: 'Pushed' } })).status).toBe(200);
    await new Promise((r) => setTimeout(r, 200));
    expect(sub.messages.filter((m) => m.payload?.command === 'fxaccounts:profile_updated')).toHaveLength(1);
    expect(push.problems).toEqual([]);
  });

  it('answers 401 errno 100 for a missing, malformed, forged or expired token', async () => {
    const unauthorized = async (res: Awaited<ReturnType<typeof get>>) => {
      expectFxaError(res, 401, 100);
      expect(res.headers.get('www-authenticate')).toMatch(/^Bearer/);
      expect(res.headers.get('cache-control')).toBe('no-store');
    };
    await unauthorized(await call(env.server, 'GET', '/profile/v1/profile'));
    await unauthorized(await call(env.server, 'GET', '/profile/v1/profile', { authorization: 'Bearer' }));
    await unauthorized(await call(env.server, 'GET', '/profile/v1/profile', { authorization: `Basic ${Buffer.from('a:b').toString('base64')}` }));
    await unauthorized(await get('/profile', 'garbage'));
    await unauthorized(await get('/profile', `${token}x`));
    await unauthorized(await get('/profile', 'a'.repeat(5000)));

    // Right shape and kid, signed by someone else.
    const { privateKey } = await generateKeyPair('RS256');
    const kid = env.server.app.accessTokens!.jwks().keys[0]!.kid as string;
    const forged = await new SignJWT({ client_id: FIREFOX_CLIENT_ID, scope: 'profile' })
      .setProtectedHeader({ alg: 'RS256', typ: 'at+JWT', kid })
      .setSubject(user.uid)
      .setIssuedAt()
      .setExpirationTime('1h')
      .sign(privateKey);
    await unauthorized(await get('/profile', forged));

    // Issued two hours ago for one hour.
    const now = Date.now();
    const clock = vi.spyOn(Date, 'now').mockReturnValue(now - 2 * 3600 * 1000);
    let expired: string;
    try {
      expired = await accessToken(env.server, user.uid, ['profile'], { ttlSeconds: 3600 });
    } finally {
      clock.mockRestore();
    }
    await unauthorized(await get('/profile', expired));

    // Issued before the password last changed.
    const account = await env.server.app.accounts.db.selectFrom('accounts').select('verifier_set_at').where('uid', '=', user.uid).executeTakeFirstOrThrow();
    await unauthorized(await get('/profile', await accessToken(env.server, user.uid, ['profile'], { generation: Number(account.verifier_set_at) - 1 })));
    // Every route checks.
    for (const [method, path] of [['GET', '/email'], ['GET', '/uid'], ['GET', '/display_name'], ['POST', '/display_name'], ['GET', '/avatar'], ['DELETE', `/avatar/${'a'.repeat(32)}`]]) {
      await unauthorized(await call(env.server, method!, `/profile/v1${path}`, { token: 'garbage' }));
    }
  });

  it('answers 401 once the account is deleted', async () => {
    const doomed = await verifiedUser(env, 'doomed');
    const t = await accessToken(env.server, doomed.uid, ['profile']);
    expect((await get('/profile', t)).status).toBe(200);
    const destroyed = await doomed.call('POST', '/account/destroy', { email: doomed.email, authPW: doomed.authPW });
    expect(destroyed.status, JSON.stringify(destroyed.body)).toBe(200);
    expectFxaError(await get('/profile', t), 401, 100);
    expectFxaError(await call(env.server, 'POST', '/profile/v1/display_name', { token: t, json: { displayName: 'ghost' } }), 401, 100);
  });

  it('answers unknown routes with a 404 in the FxA shape', async () => {
    expectFxaError(await get('/nonexistent'), 404, 999);
  });
});
