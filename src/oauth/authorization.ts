import { randomBytes } from 'node:crypto';
import type { SessionCredentials } from '../accounts/auth.js';
import { requireAccount, type Account } from '../accounts/context.js';
import { errors } from '../accounts/errors.js';
import { storedTokenHash } from '../crypto/fxa-tokens.js';
import type { OauthCodesTable } from '../db/schema.js';
import { redirectUriOf, type OauthClient } from './clients.js';
import type { OauthContext } from './context.js';
import { oauthErrors } from './errors.js';
import { covers, KEY_BEARING_SCOPES, parseScopes } from './scopes.js';

// POST /oauth/authorization (fxa-auth.md 5.2): a signed-in session asks for a code on behalf of
// a client; the code carries the grant (and the page's keys_jwe) to /oauth/token.

export const CODE_LIFETIME_MS = 15 * 60 * 1000;

export interface AuthorizationInput {
  client_id: string;
  state: string;
  response_type?: string;
  redirect_uri?: string;
  scope?: string;
  access_type?: 'online' | 'offline';
  code_challenge_method?: string;
  code_challenge?: string;
  keys_jwe?: string;
  acr_values?: string;
}

export function requireClient(o: OauthContext, clientId: string): OauthClient {
  const client = o.clients.get(clientId);
  if (!client) throw oauthErrors.unknownClient(clientId);
  return client;
}

/** The requested scopes, each allowed for the client; throws 163 naming the others. */
export function allowedScopes(client: OauthClient, requested: string[]): string[] {
  const refused = requested.filter((s) => !covers(client.allowedScopes, s));
  if (refused.length > 0) throw oauthErrors.invalidScopes(refused.join(' '));
  return requested;
}

/** Keys only go to a confirmed account over a confirmed session. */
export function checkKeyAccess(account: Account, scopes: string[], session: SessionCredentials | undefined): void {
  if (!scopes.some((s) => KEY_BEARING_SCOPES.has(s))) return;
  if (!account.email_verified) throw errors.unverifiedAccount();
  if (session && !session.verified) throw errors.unverifiedSession();
}

export async function authorize(o: OauthContext, session: SessionCredentials, input: AuthorizationInput, base: string) {
  const client = requireClient(o, input.client_id);
  if ((input.response_type ?? 'code') !== 'code') throw oauthErrors.invalidResponseType();
  const redirect = redirectUriOf(client, base);
  if (input.redirect_uri !== undefined && input.redirect_uri !== redirect) throw oauthErrors.incorrectRedirect(input.redirect_uri);
  const scopes = allowedScopes(client, parseScopes(input.scope ?? 'profile'));
  if (scopes.length === 0) throw oauthErrors.invalidScopes('');
  if (client.publicClient) {
    if (!input.code_challenge || (input.code_challenge_method ?? 'S256') !== 'S256') throw oauthErrors.missingPkce();
  }
  // Foxden has no second factor, so a demand for AAL2 can never be met.
  if (input.acr_values !== undefined && /\bAAL2\b/.test(input.acr_values)) throw oauthErrors.insufficientAcr(input.acr_values);
  checkKeyAccess(await requireAccount(o.ctx.db, session.uid), scopes, session);

  const code = randomBytes(32).toString('hex');
  const now = Date.now();
  const row: OauthCodesTable = {
    code_hash: storedTokenHash(code),
    client_id: client.id,
    uid: session.uid,
    scope: scopes.join(' '),
    offline: input.access_type === 'offline' ? 1 : 0,
    code_challenge: input.code_challenge ?? null,
    keys_jwe: input.keys_jwe ?? null,
    session_token_id: session.id,
    auth_at: session.authAt,
    created_at: now,
    expires_at: now + CODE_LIFETIME_MS,
  };
  await o.ctx.db.insertInto('oauth_codes').values(row).execute();
  const query = new URLSearchParams({ code, state: input.state }).toString();
  return { code, state: input.state, redirect: `${redirect}${redirect.includes('?') ? '&' : '?'}${query}` };
}
