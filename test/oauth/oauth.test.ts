import { createHash, createPublicKey } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeJwt, decodeProtectedHeader, importJWK, jwtVerify } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pruneAccounts } from '../../src/accounts/prune.js';
import { hexToBytes } from '../../src/crypto/onepw.js';
import { rotateSigningKey } from '../../src/oauth/access-tokens.js';
import { oldsyncKey } from '../../src/crypto/scoped-keys.js';
import { FxaClient, type TestUser } from '../helpers/fxa.js';
import { browserExchange, browserRequest, credentialsToken, FIREFOX, freshEmail, OLDSYNC, pageAuthorize, verifiedUser } from '../helpers/oauth.js';
import { startServer, testEngines, type TestServer } from '../helpers/server.js';
import { TestUser as User } from '../helpers/fxa.js';

// OAuth on the auth server (fxa-auth.md 5) and the OAuth server facade (6): codes with PKCE and
// keys_jwe, the three grants, revocation, scoped-key data, verify, jwks, introspection.

const SESSION_SCOPE = 'https://identity.mozilla.com/tokens/session';
const NO_GRANT_CLIENT = '0123456789abcdef';
const SECRET_CLIENT = 'fedcba9876543210';

describe.each(await testEngines())('OAuth (%s)', (engine) => {
  let server: TestServer;
  let dataDir: string;
  let alice: TestUser;

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'foxden-oauth-'));
    server = await startServer(engine, {
      FOXDEN_DATA_DIR: dataDir,
      FOXDEN_SIGNIN_CONFIRMATION: 'always',
      FOXDEN_REGISTRATION: 'open',
      FOXDEN_RATE_LIMITS: 'off',
      FOXDEN_OAUTH_CLIENTS: JSON.stringify([
        { id: NO_GRANT_CLIENT, name: 'Notes', redirectUri: 'https://notes.example/done', scopes: ['profile'] },
        { id: SECRET_CLIENT, name: 'Backend', redirectUri: 'https://backend.example/cb', scopes: ['profile'], publicClient: false, secret: 'a-very-long-client-secret' },
      ]),
    });
    alice = await verifiedUser(server, dataDir, 'alice');
  });
  afterAll(async () => {
    await server?.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  async function account(uid: string) {
    return server.app.database.db.selectFrom('accounts').selectAll().where('uid', '=', uid).executeTakeFirstOrThrow();
  }

  describe('authorization code with PKCE and keys_jwe', () => {
    it('hands Firefox its Sync key, a string scope, a refresh token and auth_at', async () => {
      const user = await verifiedUser(server, dataDir, 'code');
      const request = await browserRequest();
      const page = await pageAuthorize(user, request);
      expect(page.res.status, JSON.stringify(page.res.body)).toBe(200);
      const { code, state, redirect } = page.res.body;
      expect(code).toMatch(/^[0-9a-f]{64}$/);
      expect(state).toBe(request.state);
      expect(redirect).toBe(`urn:ietf:wg:oauth:2.0:oob:oauth-redirect-webchannel?code=${code}&state=${request.state}`);

      const { res, keys } = await browserExchange(user, request, code);
      expect(res.status, JSON.stringify(res.body)).toBe(200);
      expect(typeof res.body.scope).toBe('string');
      expect(res.body.scope.split(' ').sort()).toEqual([OLDSYNC, 'profile'].sort());
      expect(res.body.token_type).toBe('bearer');
      expect(res.body.expires_in).toBe(21600);
      expect(res.body.refresh_token).toMatch(/^[0-9a-f]{64}$/);
      expect(res.body.auth_at).toBeGreaterThan(1_600_000_000);
      expect(res.body.auth_at).toBeLessThan(Date.now() / 1000 + 5);

      // What Firefox's validScopedKeys demands, and the key the page derived.
      const jwk = keys![OLDSYNC]!;
      expect(Object.keys(keys!)).toEqual([OLDSYNC]);
      expect(jwk.kty).toBe('oct');
      expect(jwk.scope).toBe(OLDSYNC);
      expect(jwk.k).toMatch(/^[A-Za-z0-9_-]{86}$/);
      const acct = await account(user.uid);
      expect(jwk.kid).toMatch(new RegExp(`^${acct.keys_changed_at}-[A-Za-z0-9_-]{22}$`));
      expect(jwk).toEqual(await oldsyncKey(hexToBytes(page.kB), Number(acct.keys_changed_at)));

      // The code and its keys_jwe are gone after one use.
      const again = await browserExchange(user, request, code);
      expect(again.res.status).toBe(400);
      expect(again.res.body.errno).toBe(172);
      const rows = await server.app.database.db.selectFrom('oauth_codes').selectAll().where('uid', '=', user.uid).execute();
      expect(rows).toEqual([]);
    });

    it('mints a JWT access token the tokenserver can check: at+JWT, RS256, kid from the JWKS, fxa-generation', async () => {
      const request = await browserRequest();
      const page = await pageAuthorize(alice, request, { scope: OLDSYNC });
      const { res } = await browserExchange(alice, request, page.res.body.code);
      expect(res.status).toBe(200);
      const token = res.body.access_token as string;
      const header = decodeProtectedHeader(token);
      expect(header).toMatchObject({ alg: 'RS256', typ: 'at+JWT' });
      const jwks = await fetch(`${server.url}/oauth/v1/jwks`).then((r) => r.json());
      expect(jwks.keys).toHaveLength(1);
      const published = jwks.keys[0];
      expect(published).toMatchObject({ kty: 'RSA', alg: 'RS256', use: 'sig', kid: header.kid, e: 'AQAB' });
      expect(published.d).toBeUndefined();
      expect(createPublicKey({ key: published, format: 'jwk' }).asymmetricKeyDetails?.modulusLength).toBeGreaterThanOrEqual(2048);
      const { payload } = await jwtVerify(token, await importJWK(published, 'RS256'), { typ: 'at+JWT' });
      const acct = await account(alice.uid);
      expect(payload.sub).toBe(alice.uid);
      expect(payload.client_id).toBe(FIREFOX);
      // Exactly the scope asked for: syncstorage-rs splits the claim on commas.
      expect(payload.scope).toBe(OLDSYNC);
      expect(payload['fxa-generation']).toBe(Number(acct.verifier_set_at));
      expect(payload.exp! - payload.iat!).toBe(21600);
      expect(payload.jti).toMatch(/^[0-9a-f]{64}$/);
    });

    it('refuses a reused, expired, foreign or PKCE-less exchange with the right errno', async () => {
      const request = await browserRequest();
      const code = (await pageAuthorize(alice, request)).res.body.code as string;
      const other = await browserRequest();
      const wrongVerifier = await alice.call('POST', '/oauth/token', { client_id: FIREFOX, grant_type: 'authorization_code', code, code_verifier: other.verifier });
      expect([wrongVerifier.status, wrongVerifier.body.errno]).toEqual([400, 175]);
      const noVerifier = await alice.call('POST', '/oauth/token', { client_id: FIREFOX, grant_type: 'authorization_code', code });
      expect([noVerifier.status, noVerifier.body.errno]).toEqual([400, 169]);
      const otherClient = await alice.call('POST', '/oauth/token', { client_id: 'a2270f727f45f648', code, code_verifier: request.verifier });
      expect([otherClient.status, otherClient.body.errno]).toEqual([400, 173]);
      const unknownClient = await alice.call('POST', '/oauth/token', { client_id: '1111111111111111', code, code_verifier: request.verifier });
      expect([unknownClient.status, unknownClient.body.errno]).toEqual([400, 162]);
      // None of that used the code up.
      await server.app.database.db.updateTable('oauth_codes').set({ expires_at: Date.now() - 1 }).where('uid', '=', alice.uid).execute();
      const expired = await browserExchange(alice, request, code);
      expect([expired.res.status, expired.res.body.errno]).toEqual([400, 174]);
      const gone = await browserExchange(alice, request, code);
      expect(gone.res.body.errno).toBe(172);
      const unknown = await browserExchange(alice, request, 'ab'.repeat(32));
      expect(unknown.res.body.errno).toBe(172);
    });

    it('two exchanges of one code racing get exactly one token', async () => {
      const request = await browserRequest();
      const code = (await pageAuthorize(alice, request)).res.body.code as string;
      const results = await Promise.all([1, 2, 3].map(() => browserExchange(alice, request, code)));
      expect(results.map((r) => r.res.status).sort()).toEqual([200, 400, 400]);
    });

    it('checks client, response_type, redirect, scopes, PKCE and AAL2 when a code is asked for', async () => {
      const request = await browserRequest();
      const base = { client_id: FIREFOX, state: 'x', scope: 'profile', code_challenge_method: 'S256', code_challenge: request.challenge };
      const cases: [Record<string, unknown>, number][] = [
        [{ ...base, client_id: '1111111111111111' }, 162],
        [{ ...base, response_type: 'token' }, 168],
        [{ ...base, redirect_uri: 'https://evil.example/' }, 167],
        [{ ...base, scope: 'profile https://identity.mozilla.com/apps/notes' }, 163],
        [{ ...base, scope: 'https://identity.thunderbird.net/apps/sync' }, 163],
        [{ client_id: FIREFOX, state: 'x', scope: 'profile' }, 169],
        [{ ...base, acr_values: 'AAL2' }, 170],
        [{ ...base, code_challenge: 'short' }, 107],
        [{ ...base, code_challenge_method: 'plain' }, 107],
        [{ ...base, state: 's'.repeat(513) }, 107],
        [{ ...base, surprise: 1 }, 107],
        [{ scope: 'profile', state: 'x' }, 108],
      ];
      for (const [body, errno] of cases) {
        const res = await alice.call('POST', '/oauth/authorization', body);
        expect([res.status, res.body.errno], JSON.stringify(body)).toEqual([400, errno]);
        expect(Object.keys(res.body).sort()).toEqual(expect.arrayContaining(['code', 'errno', 'error', 'message']));
      }
      const good = await alice.call('POST', '/oauth/authorization', { ...base, redirect_uri: 'urn:ietf:wg:oauth:2.0:oob:oauth-redirect-webchannel' });
      expect(good.status).toBe(200);
      const unsigned = await new FxaClient(server.url).call('POST', '/oauth/authorization', base);
      expect([unsigned.status, unsigned.body.errno]).toEqual([401, 110]);
    });

    it('keeps keys from an unconfirmed sign-in and an unverified account (104, 138)', async () => {
      // Sign-in confirmation is "always" here: a fresh login is unverified until its code.
      const fresh = new User(new FxaClient(server.url), alice.email, alice.password);
      expect((await fresh.login()).status).toBe(200);
      const request = await browserRequest();
      const body = { client_id: FIREFOX, state: 'x', scope: OLDSYNC, code_challenge: request.challenge };
      const res = await fresh.call('POST', '/oauth/authorization', body);
      expect([res.status, res.body.errno]).toEqual([400, 138]);
      expect((await fresh.call('POST', '/account/scoped-key-data', { client_id: FIREFOX, scope: OLDSYNC })).body.errno).toBe(138);
      expect((await credentialsToken(fresh, OLDSYNC)).body.errno).toBe(138);
      // Profile alone is fine before confirmation.
      expect((await fresh.call('POST', '/oauth/authorization', { ...body, scope: 'profile' })).status).toBe(200);

      const unconfirmed = new User(new FxaClient(server.url), freshEmail('unconfirmed'), 'correct horse battery');
      expect((await unconfirmed.create()).status).toBe(200);
      const r2 = await unconfirmed.call('POST', '/oauth/authorization', body);
      expect([r2.status, r2.body.errno]).toEqual([400, 104]);
      expect((await credentialsToken(unconfirmed, OLDSYNC)).body.errno).toBe(104);
    });

    it('scope openid brings an ID token, which is no access token', async () => {
      const request = await browserRequest();
      const page = await pageAuthorize(alice, request, { scope: 'openid profile' });
      const { res } = await browserExchange(alice, request, page.res.body.code);
      expect(res.status, JSON.stringify(res.body)).toBe(200);
      const idToken = res.body.id_token as string;
      const jwks = await fetch(`${server.url}/oauth/v1/jwks`).then((r) => r.json());
      const { payload, protectedHeader } = await jwtVerify(idToken, await importJWK(jwks.keys[0], 'RS256'), { audience: FIREFOX });
      expect(protectedHeader.typ).toBe('JWT');
      expect(payload).toMatchObject({ sub: alice.uid, aud: FIREFOX, acr: 'AAL1', amr: ['pwd', 'email'], auth_time: res.body.auth_at });
      const asAccess = await fetch(`${server.url}/oauth/v1/verify`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ token: idToken }) });
      expect(asAccess.status).toBe(400);
      const withoutOpenid = await credentialsToken(alice, 'profile');
      expect(withoutOpenid.body.id_token).toBeUndefined();
    });

    it('a code for the session scope brings a new verified session token', async () => {
      const request = await browserRequest();
      const page = await pageAuthorize(alice, request, { scope: `profile ${SESSION_SCOPE}`, clientId: 'a2270f727f45f648' });
      expect(page.res.status, JSON.stringify(page.res.body)).toBe(200);
      expect(page.res.body.redirect).toMatch(new RegExp(`^${server.url}/oauth/success/a2270f727f45f648\\?code=`));
      const { res } = await browserExchange(alice, request, page.res.body.code, 'a2270f727f45f648');
      expect(res.status).toBe(200);
      expect(res.body.scope).toBe('profile');
      expect(res.body.session_token).toMatch(/^[0-9a-f]{64}$/);
      const status = await new FxaClient(server.url).call('GET', '/session/status', undefined, { token: { data: res.body.session_token, type: 'sessionToken' } });
      expect(status.status).toBe(200);
      expect(status.body.state).toBe('verified');
    });
  });

  describe('fxa-credentials', () => {
    it('gives Firefox profile and Sync tokens from its session, scope exactly as asked', async () => {
      const profile = await credentialsToken(alice, 'profile');
      expect(profile.status, JSON.stringify(profile.body)).toBe(200);
      expect(profile.body).toMatchObject({ token_type: 'bearer', scope: 'profile', expires_in: 21600 });
      expect(profile.body.refresh_token).toBeUndefined();
      const sync = await credentialsToken(alice, OLDSYNC, { ttl: 21600 });
      expect(sync.body.scope).toBe(OLDSYNC);
      expect(decodeJwt(sync.body.access_token).scope).toBe(OLDSYNC);
      const short = await credentialsToken(alice, OLDSYNC, { ttl: 60 });
      expect(short.body.expires_in).toBe(60);
      const long = await credentialsToken(alice, OLDSYNC, { ttl: 30 * 86400 });
      expect(long.body.expires_in).toBe(21600);
    });

    it('refuses disallowed scopes, clients that may not grant, and missing sessions', async () => {
      expect((await credentialsToken(alice, 'profile https://identity.mozilla.com/apps/notes')).body.errno).toBe(163);
      const noGrant = await alice.call('POST', '/oauth/token', { client_id: NO_GRANT_CLIENT, grant_type: 'fxa-credentials', scope: 'profile' });
      expect([noGrant.status, noGrant.body.errno]).toEqual([400, 107]);
      const anonymous = await new FxaClient(server.url).call('POST', '/oauth/token', { client_id: FIREFOX, grant_type: 'fxa-credentials', scope: 'profile' });
      expect([anonymous.status, anonymous.body.errno]).toEqual([401, 110]);
      const noScope = await alice.call('POST', '/oauth/token', { client_id: FIREFOX, grant_type: 'fxa-credentials' });
      expect([noScope.status, noScope.body.errno]).toEqual([400, 108]);
      const exchange = await alice.call('POST', '/oauth/token', { client_id: FIREFOX, grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange', subject_token: 'x' });
      expect(exchange.body.errno).toBe(107);
      const bogus = await alice.call('POST', '/oauth/token', { client_id: FIREFOX, grant_type: 'password' });
      expect(bogus.body.errno).toBe(107);
    });

    it('access_type offline issues a refresh token listed among attached clients, revocable there', async () => {
      const res = await credentialsToken(alice, 'profile', { access_type: 'offline' });
      const refresh = res.body.refresh_token as string;
      expect(refresh).toMatch(/^[0-9a-f]{64}$/);
      const clients = (await alice.call('GET', '/account/attached_clients')).body as any[];
      const id = createHash('sha256').update(Buffer.from(refresh, 'hex')).digest('hex');
      const entry = clients.find((c) => c.refreshTokenId === id);
      expect(entry).toMatchObject({ name: 'Firefox', scope: ['profile'], sessionTokenId: null });
      const destroyed = await alice.call('POST', '/account/attached_client/destroy', { clientId: FIREFOX, refreshTokenId: entry.refreshTokenId });
      expect(destroyed.status).toBe(200);
      const used = await new FxaClient(server.url).call('POST', '/oauth/token', { client_id: FIREFOX, grant_type: 'refresh_token', refresh_token: refresh });
      expect([used.status, used.body.errno]).toEqual([401, 110]);
    });
  });

  describe('refresh tokens', () => {
    it('refresh for the same or fewer scopes, never more, and never for another client', async () => {
      const request = await browserRequest();
      const page = await pageAuthorize(alice, request);
      const refresh = (await browserExchange(alice, request, page.res.body.code)).res.body.refresh_token as string;
      const anon = new FxaClient(server.url);
      const all = await anon.call('POST', '/oauth/token', { client_id: FIREFOX, grant_type: 'refresh_token', refresh_token: refresh });
      expect(all.status, JSON.stringify(all.body)).toBe(200);
      expect(all.body.scope.split(' ').sort()).toEqual([OLDSYNC, 'profile'].sort());
      expect(all.body.refresh_token).toBeUndefined();
      expect(all.body.keys_jwe).toBeUndefined();
      const fewer = await anon.call('POST', '/oauth/token', { client_id: FIREFOX, grant_type: 'refresh_token', refresh_token: refresh, scope: OLDSYNC, ttl: 300 });
      expect(fewer.body).toMatchObject({ scope: OLDSYNC, expires_in: 300 });
      const more = await anon.call('POST', '/oauth/token', { client_id: FIREFOX, grant_type: 'refresh_token', refresh_token: refresh, scope: `profile ${SESSION_SCOPE}` });
      expect([more.status, more.body.errno]).toEqual([400, 163]);
      const stolen = await anon.call('POST', '/oauth/token', { client_id: 'a2270f727f45f648', grant_type: 'refresh_token', refresh_token: refresh });
      expect([stolen.status, stolen.body.errno]).toEqual([401, 110]);
      const unknown = await anon.call('POST', '/oauth/token', { client_id: FIREFOX, grant_type: 'refresh_token', refresh_token: 'cd'.repeat(32) });
      expect(unknown.body.errno).toBe(110);
      const malformed = await anon.call('POST', '/oauth/token', { client_id: FIREFOX, grant_type: 'refresh_token', refresh_token: 'nope' });
      expect([malformed.status, malformed.body.errno]).toEqual([400, 107]);
    });

    it('/oauth/destroy revokes a refresh token (and its device), and answers {} for anything else', async () => {
      const anon = new FxaClient(server.url);
      const res = await credentialsToken(alice, 'profile', { access_type: 'offline' });
      const refresh = res.body.refresh_token as string;
      // A mobile client registers its device with the refresh token.
      const device = await anon.call('POST', '/account/device', { name: 'Phone', type: 'mobile' }, { authorization: `Bearer ${refresh}` });
      expect(device.status, JSON.stringify(device.body)).toBe(200);
      const out = await anon.call('POST', '/oauth/destroy', { client_id: FIREFOX, token: refresh });
      expect([out.status, out.body]).toEqual([200, {}]);
      expect(out.headers.get('content-type')).toMatch(/^application\/json/);
      const devices = (await alice.call('GET', '/account/devices')).body as any[];
      expect(devices.find((d) => d.id === device.body.id)).toBeUndefined();
      expect((await anon.call('POST', '/oauth/token', { client_id: FIREFOX, grant_type: 'refresh_token', refresh_token: refresh })).status).toBe(401);
      for (const body of [
        { client_id: FIREFOX, token: refresh },
        { client_id: FIREFOX, token: 'ef'.repeat(32) },
        { client_id: FIREFOX, token: res.body.access_token, token_type_hint: 'access_token' },
        { client_id: FIREFOX, token: 'garbage' },
        { refresh_token: 'ab'.repeat(32) },
      ]) {
        const r = await anon.call('POST', '/oauth/destroy', body);
        expect([r.status, r.body], JSON.stringify(body)).toEqual([200, {}]);
      }
      expect((await anon.call('POST', '/oauth/destroy', { client_id: '1111111111111111', token: refresh })).body.errno).toBe(162);
    });

    it('a refresh token unused for 180 days has expired: refused, and pruned with its device', async () => {
      const anon = new FxaClient(server.url);
      const refresh = (await credentialsToken(alice, 'profile', { access_type: 'offline' })).body.refresh_token as string;
      const device = await anon.call('POST', '/account/device', { name: 'Old phone', type: 'mobile' }, { authorization: `Bearer ${refresh}` });
      expect(device.status).toBe(200);
      const hash = createHash('sha256').update(Buffer.from(refresh, 'hex')).digest('hex');
      const db = server.app.database.db;
      await db.updateTable('refresh_tokens').set({ last_used_at: Date.now() - 181 * 86400_000 }).where('token_hash', '=', hash).execute();
      const grant = await anon.call('POST', '/oauth/token', { client_id: FIREFOX, grant_type: 'refresh_token', refresh_token: refresh });
      expect([grant.status, grant.body.errno]).toEqual([401, 110]);
      const devices = await anon.call('GET', '/account/devices', undefined, { authorization: `Bearer ${refresh}` });
      expect([devices.status, devices.body.errno]).toEqual([401, 110]);
      await pruneAccounts(server.app.accounts);
      expect(await db.selectFrom('refresh_tokens').selectAll().where('token_hash', '=', hash).execute()).toEqual([]);
      expect(await db.selectFrom('devices').selectAll().where('id', '=', device.body.id).execute()).toEqual([]);
    });

    it('another client cannot revoke a refresh token that is not its own', async () => {
      const refresh = (await credentialsToken(alice, 'profile', { access_type: 'offline' })).body.refresh_token as string;
      const anon = new FxaClient(server.url);
      expect((await anon.call('POST', '/oauth/destroy', { client_id: 'a2270f727f45f648', token: refresh })).status).toBe(200);
      expect((await anon.call('POST', '/oauth/token', { client_id: FIREFOX, grant_type: 'refresh_token', refresh_token: refresh })).status).toBe(200);
    });

    it('a password reset revokes refresh tokens and codes', async () => {
      const user = await verifiedUser(server, dataDir, 'resetter');
      const refresh = (await credentialsToken(user, 'profile', { access_type: 'offline' })).body.refresh_token as string;
      const request = await browserRequest();
      expect((await pageAuthorize(user, request)).res.status).toBe(200);
      expect((await user.changePassword('a brand new password')).status).toBe(200);
      const res = await new FxaClient(server.url).call('POST', '/oauth/token', { client_id: FIREFOX, grant_type: 'refresh_token', refresh_token: refresh });
      expect(res.status).toBe(401);
      expect(await server.app.database.db.selectFrom('oauth_codes').selectAll().where('uid', '=', user.uid).execute()).toEqual([]);
    });
  });

  describe('scoped-key-data', () => {
    it('describes only key-bearing scopes, with the time kB last changed', async () => {
      const res = await alice.call('POST', '/account/scoped-key-data', { client_id: FIREFOX, scope: `profile ${OLDSYNC}` });
      const acct = await account(alice.uid);
      expect(res.body).toEqual({
        [OLDSYNC]: { identifier: OLDSYNC, keyRotationSecret: '0'.repeat(64), keyRotationTimestamp: Number(acct.keys_changed_at) },
      });
      expect((await alice.call('POST', '/account/scoped-key-data', { client_id: FIREFOX, scope: 'profile' })).body).toEqual({});
      expect((await alice.call('POST', '/account/scoped-key-data', { client_id: '1111111111111111', scope: OLDSYNC })).body.errno).toBe(162);
      expect((await alice.call('POST', '/account/scoped-key-data', { client_id: NO_GRANT_CLIENT, scope: OLDSYNC })).body.errno).toBe(163);
    });

    it('a password change keeps the key timestamp (and kid); keys_changed_at never passes verifier_set_at', async () => {
      const user = await verifiedUser(server, dataDir, 'changer');
      const before = (await user.call('POST', '/account/scoped-key-data', { client_id: FIREFOX, scope: OLDSYNC })).body[OLDSYNC].keyRotationTimestamp;
      expect((await user.changePassword('another password')).status).toBe(200);
      const after = (await user.call('POST', '/account/scoped-key-data', { client_id: FIREFOX, scope: OLDSYNC })).body[OLDSYNC].keyRotationTimestamp;
      expect(after).toBe(before);
      const acct = await account(user.uid);
      expect(Number(acct.keys_changed_at)).toBeLessThanOrEqual(Number(acct.verifier_set_at));
      // And the generation in new tokens moved with the password.
      const token = (await credentialsToken(user, OLDSYNC)).body.access_token as string;
      expect(decodeJwt(token)['fxa-generation']).toBe(Number(acct.verifier_set_at));
      expect(Number(acct.verifier_set_at)).toBeGreaterThan(before);
    });
  });

  describe('the OAuth server facade (/oauth/v1)', () => {
    it('verify answers what a tokenserver needs, and 400 errno 108 otherwise', async () => {
      const token = (await credentialsToken(alice, OLDSYNC)).body.access_token as string;
      const res = await fetch(`${server.url}/oauth/v1/verify`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ token }) });
      const body = await res.json();
      const acct = await account(alice.uid);
      expect(res.status).toBe(200);
      expect(body).toEqual({ user: alice.uid, client_id: FIREFOX, scope: [OLDSYNC], generation: Number(acct.verifier_set_at), profile_changed_at: Number(acct.profile_changed_at) });
      for (const bad of ['garbage', token.slice(0, -4) + 'AAAA', 'a.b.c']) {
        const r = await fetch(`${server.url}/oauth/v1/verify`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ token: bad }) });
        expect([r.status, await r.json()]).toEqual([400, { code: 400, errno: 108, error: 'Bad Request', message: 'Invalid token' }]);
      }
      const missing = await fetch(`${server.url}/oauth/v1/verify`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
      expect((await missing.json()).errno).toBe(109);
    });

    it('an expired token or a deleted account no longer verifies', async () => {
      const user = await verifiedUser(server, dataDir, 'leaver');
      const acct = await account(user.uid);
      const expired = await server.app.accessTokens!.issue({ uid: user.uid, clientId: FIREFOX, scope: [OLDSYNC], ttlSeconds: 1, generation: Number(acct.verifier_set_at), profileChangedAt: 0 });
      const live = (await credentialsToken(user, OLDSYNC)).body.access_token as string;
      await new Promise((r) => setTimeout(r, 2100));
      const verify = (token: string) => fetch(`${server.url}/oauth/v1/verify`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ token }) });
      expect((await verify(expired.token)).status).toBe(400);
      expect((await verify(live)).status).toBe(200);
      expect((await user.call('POST', '/account/destroy', { email: user.email, authPW: user.authPW })).status).toBe(200);
      expect((await verify(live)).status).toBe(400);
    });

    it('token takes form-encoded bodies, answers in OAuth errnos, and checks confidential secrets', async () => {
      const request = await browserRequest();
      const code = (await pageAuthorize(alice, request)).res.body.code as string;
      const form = (fields: Record<string, string>) =>
        fetch(`${server.url}/oauth/v1/token`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(fields).toString() });
      const bad = await form({ grant_type: 'authorization_code', client_id: FIREFOX, code, code_verifier: (await browserRequest()).verifier });
      expect([bad.status, (await bad.json()).errno]).toEqual([400, 117]);
      const ok = await form({ grant_type: 'authorization_code', client_id: FIREFOX, code, code_verifier: request.verifier, ttl: '600' });
      const body = await ok.json();
      expect(ok.status, JSON.stringify(body)).toBe(200);
      expect(body.expires_in).toBe(600);
      expect(body.keys_jwe).toMatch(/^[\w-]+\.\.[\w-]+\.[\w-]+\.[\w-]+$/);
      const refreshed = await form({ grant_type: 'refresh_token', client_id: FIREFOX, refresh_token: body.refresh_token });
      expect(refreshed.status).toBe(200);
      const unknown = await form({ grant_type: 'authorization_code', client_id: FIREFOX, code: 'ab'.repeat(32), code_verifier: request.verifier });
      expect((await unknown.json()).errno).toBe(105);
      const noClient = await form({ grant_type: 'refresh_token', client_id: '1111111111111111', refresh_token: body.refresh_token });
      expect((await noClient.json()).errno).toBe(101);
      const wrongSecret = await form({ grant_type: 'refresh_token', client_id: SECRET_CLIENT, client_secret: 'not the secret at all', refresh_token: body.refresh_token });
      expect((await wrongSecret.json()).errno).toBe(102);
      const noSecret = await form({ grant_type: 'refresh_token', client_id: SECRET_CLIENT, refresh_token: body.refresh_token });
      expect((await noSecret.json()).errno).toBe(102);
      const credentials = await form({ grant_type: 'fxa-credentials', client_id: FIREFOX, scope: 'profile' });
      expect([credentials.status, (await credentials.json()).errno]).toEqual([400, 108]);
    });

    it('introspect, client information, jwks caching and an unknown route', async () => {
      const res = await credentialsToken(alice, 'profile', { access_type: 'offline' });
      const post = (path: string, body: unknown) =>
        fetch(`${server.url}/oauth/v1${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }).then((r) => r.json());
      expect(await post('/introspect', { token: res.body.access_token })).toMatchObject({ active: true, scope: 'profile', client_id: FIREFOX, sub: alice.uid, token_type: 'access_token' });
      expect(await post('/introspect', { token: res.body.refresh_token })).toMatchObject({ active: true, scope: 'profile', client_id: FIREFOX, sub: alice.uid, token_type: 'refresh_token' });
      expect(await post('/introspect', { token: 'nonsense' })).toEqual({ active: false });
      expect(await post('/destroy', { refresh_token: res.body.refresh_token })).toEqual({});
      expect(await post('/introspect', { token: res.body.refresh_token })).toEqual({ active: false });

      const client = await fetch(`${server.url}/oauth/v1/client/${FIREFOX}`);
      expect(await client.json()).toEqual({ id: FIREFOX, name: 'Firefox', trusted: true, image_uri: '', redirect_uri: 'urn:ietf:wg:oauth:2.0:oob:oauth-redirect-webchannel' });
      expect((await (await fetch(`${server.url}/oauth/v1/client/1111111111111111`)).json()).errno).toBe(101);
      const jwks = await fetch(`${server.url}/oauth/v1/jwks`);
      expect(jwks.headers.get('cache-control')).toBe('public, max-age=3600');
      const nowhere = await fetch(`${server.url}/oauth/v1/nowhere`);
      expect(nowhere.status).toBe(404);
      expect((await nowhere.json()).errno).toBe(999);
    });
  });

  it('the signing key survives a restart and is shared by servers on one database', async () => {
    const before = await fetch(`${server.url}/oauth/v1/jwks`).then((r) => r.json());
    // Test databases have no password, so the redacted location is the URL itself.
    const shared = engine === 'postgres' ? { FOXDEN_DATABASE_URL: server.app.database.location } : {};
    const second = await startServer(engine, { FOXDEN_DATA_DIR: dataDir, ...shared });
    try {
      expect(await fetch(`${second.url}/oauth/v1/jwks`).then((r) => r.json())).toEqual(before);
      const token = (await credentialsToken(alice, OLDSYNC)).body.access_token as string;
      const verified = await fetch(`${second.url}/oauth/v1/verify`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ token }) });
      expect(verified.status).toBe(200);
    } finally {
      await second.close();
    }
  });

  it('a rotated signing key: both keys published, old tokens still verify, every process moves to the new key', async () => {
    const old = (await credentialsToken(alice, OLDSYNC)).body.access_token as string;
    const oldKid = decodeProtectedHeader(old).kid;
    const newKid = await rotateSigningKey(server.app.database.db);
    const shared = engine === 'postgres' ? { FOXDEN_DATABASE_URL: server.app.database.location } : {};
    const second = await startServer(engine, { FOXDEN_DATA_DIR: dataDir, ...shared });
    try {
      const jwks = await fetch(`${second.url}/oauth/v1/jwks`).then((r) => r.json());
      expect(jwks.keys.map((k: { kid: string }) => k.kid)).toEqual([newKid, oldKid]);
      const verify = (url: string, token: string) =>
        fetch(`${url}/oauth/v1/verify`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ token }) }).then((r) => r.status);
      expect(await verify(second.url, old)).toBe(200);
      const fresh = await second.app.accessTokens!.issue({ uid: alice.uid, clientId: FIREFOX, scope: [OLDSYNC], ttlSeconds: 60, generation: 0, profileChangedAt: 0 });
      expect(decodeProtectedHeader(fresh.token).kid).toBe(newKid);
      // The first server loaded its keys before the rotation; meeting the new kid (once its
      // reload pause has passed) makes it read them again.
      (server.app.accessTokens as unknown as { lastLoad: number }).lastLoad = 0;
      expect(await verify(server.url, fresh.token)).toBe(200);
      expect(decodeProtectedHeader((await credentialsToken(alice, OLDSYNC)).body.access_token).kid).toBe(newKid);
      // A second rotation drops the oldest key.
      await rotateSigningKey(server.app.database.db);
      (server.app.accessTokens as unknown as { lastLoad: number }).lastLoad = 0;
      expect(await verify(server.url, old)).toBe(400);
    } finally {
      await second.close();
    }
  });
});
