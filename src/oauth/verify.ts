import { accountByUid } from '../accounts/context.js';
import { errors } from '../accounts/errors.js';
import { storedTokenHash } from '../crypto/fxa-tokens.js';
import { redirectUriOf } from './clients.js';
import type { OauthContext } from './context.js';
import { oauthErrors } from './errors.js';

// The OAuth server's own routes (fxa-auth.md 6.2, 6.3): token verification for relying parties
// such as a tokenserver, introspection, and public client information.

/** POST /v1/verify: an access token's grant, or invalid token (400 errno 108 in the facade's numbering). */
export async function verifyAccessToken(o: OauthContext, token: string) {
  const claims = await o.accessTokens.verify(token);
  // A token outlives nothing: once its account is deleted it stops verifying.
  if (!claims || !(await accountByUid(o.ctx.db, claims.uid))) throw errors.invalidToken('Invalid token');
  return {
    user: claims.uid,
    client_id: claims.clientId,
    scope: claims.scope,
    generation: claims.generation,
    profile_changed_at: claims.profileChangedAt,
  };
}

/** POST /v1/introspect (RFC 7662). */
export async function introspect(o: OauthContext, input: { token: string; token_type_hint?: string }) {
  if (/^[0-9a-f]{64}$/i.test(input.token)) {
    const row = await o.ctx.db
      .selectFrom('refresh_tokens')
      .selectAll()
      .where('token_hash', '=', storedTokenHash(input.token.toLowerCase()))
      .executeTakeFirst();
    if (!row) return { active: false };
    return {
      active: true,
      scope: row.scope,
      client_id: row.client_id,
      sub: row.uid,
      iat: Math.floor(Number(row.created_at) / 1000),
      token_type: 'refresh_token',
      'fxa-lastUsedAt': Math.floor(Number(row.last_used_at) / 1000),
    };
  }
  const claims = await o.accessTokens.verify(input.token);
  if (!claims || !(await accountByUid(o.ctx.db, claims.uid))) return { active: false };
  return {
    active: true,
    scope: claims.scope.join(' '),
    client_id: claims.clientId,
    sub: claims.uid,
    exp: claims.exp,
    iat: claims.iat,
    token_type: 'access_token',
  };
}

/** GET /v1/client/:id: what a page may show about a client ("Continue to Firefox"). */
export function clientInfo(o: OauthContext, clientId: string, base: string) {
  const client = o.clients.get(clientId);
  if (!client) throw oauthErrors.unknownClient(clientId);
  return { id: client.id, name: client.name, trusted: client.trusted, image_uri: client.imageUri ?? '', redirect_uri: redirectUriOf(client, base) };
}
