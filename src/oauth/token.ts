import { randomBytes } from 'node:crypto';
import type { SessionCredentials } from '../accounts/auth.js';
import { accountByUid, insertSession } from '../accounts/context.js';
import { errors } from '../accounts/errors.js';
import { REFRESH_TOKEN_IDLE_MS } from '../accounts/prune.js';
import type { Account } from '../accounts/context.js';
import { storedTokenHash } from '../crypto/fxa-tokens.js';
import { pkceChallenge } from '../crypto/scoped-keys.js';
import { MAX_TTL_SECONDS } from './access-tokens.js';
import { allowedScopes, checkKeyAccess, requireClient } from './authorization.js';
import { secretMatches, type OauthClient } from './clients.js';
import type { OauthContext } from './context.js';
import { oauthErrors } from './errors.js';
import { parseScopes, SESSION_SCOPE } from './scopes.js';

// POST /oauth/token (fxa-auth.md 5.5): authorization_code (PKCE), fxa-credentials (a session
// token straight to tokens) and refresh_token grants.

export interface TokenInput {
  grant_type?: string;
  client_id: string;
  client_secret?: string;
  code?: string;
  code_verifier?: string;
  redirect_uri?: string;
  refresh_token?: string;
  scope?: string;
  access_type?: 'online' | 'offline';
  ttl?: number;
}

export interface TokenResponse {
  access_token: string;
  token_type: 'bearer';
  /** A string: Firefox calls scope.includes(). */
  scope: string;
  expires_in: number;
  auth_at?: number;
  refresh_token?: string;
  keys_jwe?: string;
  session_token?: string;
  id_token?: string;
}

function checkSecret(client: OauthClient, secret: string | undefined): void {
  if (secret === undefined) return;
  if (!secretMatches(client, secret)) throw oauthErrors.incorrectSecret(client.id);
}

export async function grantToken(o: OauthContext, input: TokenInput, session: SessionCredentials | undefined): Promise<TokenResponse> {
  const client = requireClient(o, input.client_id);
  checkSecret(client, input.client_secret);
  if (!client.publicClient && input.client_secret === undefined) throw oauthErrors.incorrectSecret(client.id);
  switch (input.grant_type ?? 'authorization_code') {
    case 'authorization_code':
      return codeGrant(o, client, input);
    case 'fxa-credentials':
      if (!session) throw errors.invalidToken('The fxa-credentials grant needs a session token');
      return credentialsGrant(o, client, input, session);
    case 'refresh_token':
      return refreshGrant(o, client, input);
    default:
      throw oauthErrors.unsupportedGrant(input.grant_type!);
  }
}

async function codeGrant(o: OauthContext, client: OauthClient, input: TokenInput): Promise<TokenResponse> {
  if (!input.code) throw errors.missingParameter('code');
  const hash = storedTokenHash(input.code);
  const db = o.ctx.db;
  const row = await db.selectFrom('oauth_codes').selectAll().where('code_hash', '=', hash).executeTakeFirst();
  if (!row) throw oauthErrors.unknownCode();
  if (row.client_id !== client.id) throw oauthErrors.mismatchCode(client.id);
  if (Number(row.expires_at) <= Date.now()) {
    await db.deleteFrom('oauth_codes').where('code_hash', '=', hash).execute();
    throw oauthErrors.expiredCode(Number(row.expires_at));
  }
  if (client.publicClient) {
    if (!row.code_challenge || !input.code_verifier) throw oauthErrors.missingPkce();
    if ((await pkceChallenge(input.code_verifier)) !== row.code_challenge) throw oauthErrors.invalidPkce();
  }
  // Single use: whoever deletes the row owns the grant, so two racing exchanges get one token.
  const used = await db.deleteFrom('oauth_codes').where('code_hash', '=', hash).executeTakeFirst();
  if (Number(used.numDeletedRows) === 0) throw oauthErrors.unknownCode();
  const account = await accountByUid(db, row.uid);
  if (!account) throw errors.invalidToken('The account is gone');
  const scopes = parseScopes(row.scope);
  const response = await issue(o, client, account, scopes, input.ttl, Number(row.auth_at), row.offline === 1);
  if (row.keys_jwe) response.keys_jwe = row.keys_jwe;
  if (scopes.includes('openid')) {
    response.id_token = await o.accessTokens.idToken({ uid: account.uid, clientId: client.id, authAt: Number(row.auth_at), ttlSeconds: response.expires_in });
  }
  if (scopes.includes(SESSION_SCOPE)) response.session_token = await newSessionFor(o, account, row.session_token_id);
  return response;
}

async function credentialsGrant(o: OauthContext, client: OauthClient, input: TokenInput, session: SessionCredentials): Promise<TokenResponse> {
  if (!client.canGrant) throw oauthErrors.cannotGrant(client.id);
  if (!input.scope) throw errors.missingParameter('scope');
  const scopes = allowedScopes(client, parseScopes(input.scope));
  if (scopes.length === 0) throw oauthErrors.invalidScopes('');
  const account = await accountByUid(o.ctx.db, session.uid);
  if (!account) throw errors.invalidToken();
  checkKeyAccess(account, scopes, session);
  const response = await issue(o, client, account, scopes, input.ttl, session.authAt, input.access_type === 'offline');
  if (scopes.includes(SESSION_SCOPE)) response.session_token = await newSessionFor(o, account, session.id);
  return response;
}

async function refreshGrant(o: OauthContext, client: OauthClient, input: TokenInput): Promise<TokenResponse> {
  if (!input.refresh_token) throw errors.missingParameter('refresh_token');
  const hash = storedTokenHash(input.refresh_token);
  const db = o.ctx.db;
  const row = await db.selectFrom('refresh_tokens').selectAll().where('token_hash', '=', hash).executeTakeFirst();
  if (!row || row.client_id !== client.id) throw errors.invalidToken('Invalid refresh token');
  if (Date.now() - Number(row.last_used_at) > REFRESH_TOKEN_IDLE_MS) throw errors.invalidToken('Expired refresh token');
  const granted = parseScopes(row.scope);
  const scopes = input.scope === undefined ? granted : parseScopes(input.scope);
  const beyond = scopes.filter((s) => !granted.includes(s));
  if (beyond.length > 0) throw oauthErrors.invalidScopes(beyond.join(' '));
  const account = await accountByUid(db, row.uid);
  if (!account) throw errors.invalidToken('Invalid refresh token');
  await db.updateTable('refresh_tokens').set({ last_used_at: Date.now() }).where('token_hash', '=', hash).execute();
  const { access_token, token_type, scope, expires_in } = await issue(o, client, account, scopes, input.ttl, undefined, false);
  return { access_token, token_type, scope, expires_in };
}

async function issue(
  o: OauthContext,
  client: OauthClient,
  account: Account,
  scopes: string[],
  ttl: number | undefined,
  authAt: number | undefined,
  offline: boolean,
): Promise<TokenResponse> {
  // The session scope is a way to get a session token, not something an access token carries.
  const tokenScopes = scopes.filter((s) => s !== SESSION_SCOPE);
  const { token, expiresIn } = await o.accessTokens.issue({
    uid: account.uid,
    clientId: client.id,
    scope: tokenScopes,
    ttlSeconds: ttl ?? MAX_TTL_SECONDS,
    generation: Number(account.verifier_set_at),
    profileChangedAt: Number(account.profile_changed_at),
  });
  const response: TokenResponse = { access_token: token, token_type: 'bearer', scope: tokenScopes.join(' '), expires_in: expiresIn };
  if (authAt !== undefined) response.auth_at = authAt;
  if (offline) {
    const refresh = randomBytes(32).toString('hex');
    const now = Date.now();
    await o.ctx.db
      .insertInto('refresh_tokens')
      .values({ token_hash: storedTokenHash(refresh), uid: account.uid, client_id: client.id, scope: scopes.join(' '), created_at: now, last_used_at: now })
      .execute();
    response.refresh_token = refresh;
  }
  return response;
}

/** The session scope: a fresh session token, as verified as the session that granted it. */
async function newSessionFor(o: OauthContext, account: Account, grantingSession: string | null): Promise<string> {
  const granting = grantingSession
    ? await o.ctx.db.selectFrom('session_tokens').select(['verification_id', 'user_agent', 'ip']).where('token_id', '=', grantingSession).executeTakeFirst()
    : undefined;
  if (!granting || granting.verification_id !== null) throw errors.unverifiedSession();
  const { token } = await insertSession(o.ctx.db, account.uid, { ip: granting.ip, origin: '', userAgent: granting.user_agent }, { verified: true });
  return token.data;
}
