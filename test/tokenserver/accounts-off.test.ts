import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { StorageClient } from '../helpers/client.js';
import { testEngines, useServer } from '../helpers/server.js';
import { authHeaders, getToken, makeSigningKey, OLDSYNC, signJwt, startFakeFxa, tokenPayload, type FakeFxa } from './support.js';

// Method 1, "just the data": local accounts off, the tokenserver trusting an external accounts
// server (a stand-in for Mozilla's), storage serving the users it assigns.

const fxa: FakeFxa = await startFakeFxa();
const key = await makeSigningKey('external-1');
fxa.extraKeys.push(key.publicJwk);
afterAll(() => fxa.close());

describe('FOXDEN_ACCOUNTS=off configuration', () => {
  it('needs an external verify endpoint', () => {
    expect(() => loadConfig({ env: { FOXDEN_ACCOUNTS: 'off' } })).toThrow(/FOXDEN_FXA_VERIFY_URL/);
    const config = loadConfig({ env: { FOXDEN_ACCOUNTS: 'off', FOXDEN_FXA_VERIFY_URL: 'https://oauth.accounts.firefox.com/v1/verify' } });
    expect(config.accountsEnabled).toBe(false);
    // Mozilla's own tokenserver names its users this way, so moved databases keep matching.
    expect(config.tokenserver.fxaEmailDomain).toBe('api.accounts.firefox.com');
  });
});

describe.each(await testEngines())('just the data (%s)', (engine) => {
  const server = useServer(engine, {
    FOXDEN_ACCOUNTS: 'off',
    FOXDEN_FXA_VERIFY_URL: `${fxa.url}/v1/verify`,
    FOXDEN_FXA_JWKS_URL: `${fxa.url}/v1/jwks`,
  });

  it('serves no accounts, OAuth, profile or discovery', async () => {
    for (const path of ['/auth/v1/account/status?uid=' + '0'.repeat(32), '/oauth/v1/jwks', '/profile/v1/profile', '/.well-known/fxa-client-configuration']) {
      const res = await fetch(server.url + path);
      expect(res.status, path).toBe(404);
    }
    expect(server.app.accessTokens).toBeUndefined();
  });

  it('trades an external opaque token (verify endpoint) and an external JWT (JWKS) for storage that works', async () => {
    const fxaUid = randomBytes(16).toString('hex');
    const opaque = await getToken(server, authHeaders({ user: fxaUid, generation: 1700000000000, keysChangedAt: 1700000000000, clientState: 'aabb' }), '/token/1.0/sync/1.5');
    expect(opaque.status, opaque.text).toBe(200);
    const storage = new StorageClient(server, opaque.json.uid, { id: opaque.json.id, key: opaque.json.key, payload: tokenPayload(opaque.json.id) as any });
    expect((await storage.put('/storage/bookmarks/x', { payload: 'kept at home' })).status).toBe(200);
    const row = await server.app.database.db.selectFrom('users').select('email').where('uid', '=', opaque.json.uid).executeTakeFirstOrThrow();
    expect(row.email).toBe(`${fxaUid}@api.accounts.firefox.com`);

    const calls = fxa.verifyCalls;
    const jwt = await signJwt(key, { sub: fxaUid, scope: OLDSYNC, generation: 1700000000000 });
    const viaJwks = await getToken(server, { authorization: `Bearer ${jwt}`, 'x-keyid': `1700000000000-${Buffer.from('aabb', 'hex').toString('base64url')}` }, '/token/1.0/sync/1.5');
    expect(viaJwks.status, viaJwks.text).toBe(200);
    expect(viaJwks.json.uid).toBe(opaque.json.uid);
    expect(fxa.verifyCalls).toBe(calls);
    const again = new StorageClient(server, viaJwks.json.uid, { id: viaJwks.json.id, key: viaJwks.json.key, payload: tokenPayload(viaJwks.json.id) as any });
    expect((await again.get('/storage/bookmarks/x')).json().payload).toBe('kept at home');
  });
});
