import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import { clientBase } from './public-url.js';

// The discovery documents at the root (fxa-auth.md 8.2, 8.3). Every service lives on one origin
// under its own prefix (/auth, /oauth, /profile, /token), which is the layout Firefox's prefs and
// autoconfig expect; the bases carry FOXDEN_PUBLIC_URL's path prefix, if it has one.

export interface DiscoveryOptions {
  /** FOXDEN_PUBLIC_URL without trailing slash; undefined = the origin of each request. */
  publicBase: string | undefined;
}

/** FxA's client configuration: what Firefox's autoconfig (identity.fxaccounts.autoconfig.uri) reads. */
export function fxaClientConfiguration(base: string) {
  return {
    auth_server_base_url: `${base}/auth`,
    oauth_server_base_url: `${base}/oauth`,
    pairing_server_base_uri: base.replace(/^http/i, 'ws'),
    profile_server_base_url: `${base}/profile`,
    sync_tokenserver_base_url: `${base}/token`,
  };
}

/** OpenID Connect discovery, for relying parties other than Firefox. */
export function openidConfiguration(base: string) {
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

export const discoveryRoutes: FastifyPluginAsync<DiscoveryOptions> = async (app, { publicBase }) => {
  const baseOf = (req: FastifyRequest) => clientBase(publicBase, req);

  app.get('/.well-known/fxa-client-configuration', async (req, reply) => {
    reply.header('Cache-Control', 'public, max-age=86400');
    return fxaClientConfiguration(baseOf(req));
  });
  app.get('/.well-known/openid-configuration', async (req, reply) => {
    reply.header('Cache-Control', 'public, max-age=3600');
    return openidConfiguration(baseOf(req));
  });
};
