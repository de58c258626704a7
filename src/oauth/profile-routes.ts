import type { FastifyPluginAsync } from 'fastify';
import type { AccountsContext } from '../accounts/context.js';
import type { AccessTokens } from './access-tokens.js';

// PLACEHOLDER: the profile server (fxa-auth.md 8.1) is being written; this file fixes its shape.

export interface ProfileRoutesOptions {
  ctx: AccountsContext;
  accessTokens: AccessTokens;
}

export const profileRoutes: FastifyPluginAsync<ProfileRoutesOptions> = async () => {};
