import { describe, expect, it } from 'vitest';
import { testEngines, useServer, type TestServer } from './helpers/server.js';

// The discovery documents (fxa-auth.md 8.2, 8.3): Firefox's autoconfig reads
// fxa-client-configuration before sign-in, so its bases must name the routes this server has,
// with FOXDEN_PUBLIC_URL's prefix when there is one and the request's origin when there is not.

async function get(server: TestServer, path: string) {
  const res = await fetch(`${server.url}${path}`);
  return { status: res.status, headers: res.headers, body: (await res.json()) as Record<string, unknown> };
}

function expectedClientConfiguration(base: string) {
  return {
    auth_server_base_url: `${base}/auth`,
    oauth_server_base_url: `${base}/oauth`,
    pairing_server_base_uri: base.replace(/^http/, 'ws'),
    profile_server_base_url: `${base}/profile`,
    sync_tokenserver_base_url: `${base}/token`,
  };
}

function expectedOpenid(base: string) {
  return {
    issuer: base,
    authorization_endpoint: `${base}/authorization`,
    token_endpoint: `${base}/oauth/v1/token`,
    userinfo_endpoint: `${base}/profile/v1/profile`,
    jwks_uri: `${base}/oauth/v1/jwks`,
    revocation_endpoint: `${base}/oauth/v1/destroy`,
    introspection_endpoint: `${base}/oauth/v1/introspect`,
    response_types_supported: ['code'],
    scopes_supported: ['openid', 'profile', 'email'],
    subject_types_supported: ['public'],
    id_token_signing_alg_values_supported: ['RS256'],
    token_endpoint_auth_methods_supported: ['client_secret_post'],
    code_challenge_methods_supported: ['S256'],
    claims_supported: ['aud', 'exp', 'iat', 'iss', 'sub'],
  };
}

describe.each(await testEngines())('discovery (%s)', (engine) => {
  describe('without FOXDEN_PUBLIC_URL', () => {
    const server = useServer(engine);

    it('builds the bases from the request origin', async () => {
      const res = await get(server, '/.well-known/fxa-client-configuration');
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toMatch(/^application\/json/);
      expect(res.headers.get('cache-control')).toBe('public, max-age=86400');
      expect(res.body).toEqual(expectedClientConfiguration(server.url));
      for (const value of Object.values(res.body)) expect(value).not.toMatch(/\/$/);

      // Another Host header, another origin.
      const other = await server.app.server.inject({ method: 'GET', url: '/.well-known/fxa-client-configuration', headers: { host: 'foxden.lan:8443' } });
      expect(other.json()).toEqual(expectedClientConfiguration('http://foxden.lan:8443'));
    });

    it('serves the OpenID configuration', async () => {
      const res = await get(server, '/.well-known/openid-configuration');
      expect(res.status).toBe(200);
      expect(res.headers.get('cache-control')).toBe('public, max-age=3600');
      expect(res.body).toEqual(expectedOpenid(server.url));
    });

    it('points at routes that exist', async () => {
      const config = (await get(server, '/.well-known/fxa-client-configuration')).body as Record<string, string>;
      // The profile server answers 401 (not 404) without a token.
      const profile = await fetch(`${config.profile_server_base_url}/v1/profile`);
      expect(profile.status).toBe(401);
      // The accounts server is under the auth base.
      const status = await fetch(`${config.auth_server_base_url}/v1/account/status`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ email: 'nobody@example.com' }),
      });
      expect(status.status).toBe(200);
    });
  });

  describe('with a path prefix in FOXDEN_PUBLIC_URL', () => {
    const server = useServer(engine, { FOXDEN_PUBLIC_URL: 'https://sync.example.com/foxden/' });

    it('hands out the public URL with its prefix, whether or not the proxy strips it', async () => {
      for (const prefix of ['', '/foxden']) {
        const config = await get(server, `${prefix}/.well-known/fxa-client-configuration`);
        expect(config.status).toBe(200);
        expect(config.body).toEqual(expectedClientConfiguration('https://sync.example.com/foxden'));
        expect(config.body.pairing_server_base_uri).toBe('wss://sync.example.com/foxden');
        const openid = await get(server, `${prefix}/.well-known/openid-configuration`);
        expect(openid.body).toEqual(expectedOpenid('https://sync.example.com/foxden'));
      }
    });
  });

  describe('with a plain public URL', () => {
    const server = useServer(engine, { FOXDEN_PUBLIC_URL: 'http://sync.example.com:8080' });

    it('ignores the Host header', async () => {
      const res = await server.app.server.inject({ method: 'GET', url: '/.well-known/fxa-client-configuration', headers: { host: 'evil.example' } });
      expect(res.json()).toEqual(expectedClientConfiguration('http://sync.example.com:8080'));
    });
  });
});
