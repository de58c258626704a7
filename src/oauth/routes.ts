import type { FastifyPluginAsync } from 'fastify';
import type { AccountsAuthenticator } from '../accounts/auth.js';
import type { AccountsContext } from '../accounts/context.js';
import type { AccessTokens } from './access-tokens.js';
import type { ClientRegistry } from './clients.js';

// PLACEHOLDER: OAuth routes on the auth server (fxa-auth.md 5) and the /oauth/v1 facade (6).

export interface OauthRoutesOptions {
  ctx: AccountsContext;
  auth: AccountsAuthenticator;
  accessTokens: AccessTokens;
  clients: ClientRegistry;
}

export const oauthRoutes: FastifyPluginAsync<OauthRoutesOptions> = async () => {};
export const oauthFacadeRoutes: FastifyPluginAsync<OauthRoutesOptions> = async () => {};
