import { createHash } from 'node:crypto';
import { accountByUid, withAccountLock, type Account, type AccountsContext } from '../accounts/context.js';
import type { AccessTokens } from './access-tokens.js';
import { avatarInfo } from './avatar.js';
import { announceProfileChange, nextProfileChange } from './profile-changes.js';
import { profileErrors } from './profile-errors.js';
import { covers } from './scopes.js';

// The profile server's operations (fxa-auth.md 8.1): who the bearer of an access token is, the
// profile its scopes let it see, and the display name.

export interface ProfileCaller {
  uid: string;
  clientId: string;
  scope: string[];
  account: Account;
}

/** `Authorization: Bearer <token>` to the caller; 401 (errno 100) for anything short of a live token of a live account. */
export async function authenticateBearer(ctx: AccountsContext, accessTokens: AccessTokens, header: string | undefined): Promise<ProfileCaller> {
  const m = /^Bearer +([A-Za-z0-9._~+/=-]+) *$/i.exec(header ?? '');
  if (!m) throw profileErrors.unauthorized(header ? 'Authorization is not a Bearer token' : 'Bearer token not provided');
  const claims = await accessTokens.verify(m[1]!);
  if (!claims) throw profileErrors.unauthorized('Invalid or expired token');
  const account = await accountByUid(ctx.db, claims.uid);
  if (!account) throw profileErrors.unauthorized('The account for this token no longer exists');
  // The token was issued before the password last changed (every session ended then).
  if (claims.generation < Number(account.verifier_set_at)) throw profileErrors.unauthorized('Token predates a password change');
  return { uid: claims.uid, clientId: claims.clientId, scope: claims.scope, account };
}

export function requireScope(caller: ProfileCaller, wanted: string): void {
  if (!covers(caller.scope, wanted)) throw profileErrors.forbidden(wanted);
}

/** Scopes that show `profile:email`-style account facts (upstream's "core profile"). */
const CORE_SCOPES = ['profile:email', 'profile:locale', 'profile:amr', 'profile:subscriptions'];

/** GET /v1/profile: every field the token's scopes cover; 403 when they cover none. */
export async function profileOf(ctx: AccountsContext, caller: ProfileCaller, base: string): Promise<Record<string, unknown>> {
  const can = (scope: string) => covers(caller.scope, scope);
  const { account } = caller;
  const body: Record<string, unknown> = {};
  let any = false;
  const add = (scope: string | boolean, fields: Record<string, unknown>) => {
    if (typeof scope === 'string' ? !can(scope) : !scope) return;
    any = true;
    for (const [k, v] of Object.entries(fields)) if (v !== undefined && v !== null) body[k] = v;
  };
  add('profile:uid', { uid: account.uid });
  // OpenID Connect's `email` scope reads the address too.
  add(can('profile:email') || can('email'), { email: account.email });
  add('profile:locale', { locale: account.locale ?? undefined });
  add('profile:amr', { amrValues: ['pwd', 'email'], twoFactorAuthentication: false });
  add('profile:display_name', { displayName: account.display_name || undefined });
  if (can('profile:avatar')) {
    const avatar = await avatarInfo(ctx.db, account.uid, base);
    add(true, { avatar: avatar.avatar, avatarDefault: avatar.avatarDefault });
  }
  add('profile:subscriptions', { subscriptions: [] });
  add(CORE_SCOPES.some(can), { metricsEnabled: false });
  add('openid', { sub: account.uid });
  if (!any) throw profileErrors.forbidden('profile');
  return body;
}

export const MAX_DISPLAY_NAME = 256;

/**
 * What a display name may contain: no control characters, surrogates, private-use characters,
 * line or paragraph separators, interlinear annotations or bidirectional overrides (they can make
 * a name render as something else). Joiners and variation selectors stay, emoji need them.
 */
export const DISPLAY_NAME_PATTERN = /^[^\p{Cc}\p{Cs}\p{Co}\u2028\u2029\u202a-\u202e\u2066-\u2069\ufff9-\ufffb]*$/u;

/** POST /v1/display_name: '' clears it. Bumps profileChangedAt and tells the devices when it changed. */
export async function setDisplayName(ctx: AccountsContext, uid: string, displayName: string): Promise<void> {
  const value = displayName === '' ? null : displayName;
  const changed = await withAccountLock(ctx, uid, async (trx) => {
    const row = await trx.selectFrom('accounts').select(['display_name', 'profile_changed_at']).where('uid', '=', uid).executeTakeFirst();
    if (!row) throw profileErrors.unauthorized('The account for this token no longer exists');
    if ((row.display_name ?? null) === value) return false;
    await trx
      .updateTable('accounts')
      .set({ display_name: value, profile_changed_at: nextProfileChange(row.profile_changed_at) })
      .where('uid', '=', uid)
      .execute();
    return true;
  });
  if (changed) await announceProfileChange(ctx, uid);
}

/** A strong validator of a JSON body. */
export function etagOf(json: string): string {
  return `"${createHash('sha256').update(json).digest('base64url').slice(0, 32)}"`;
}

/** Does an If-None-Match header name `etag` (so the answer is 304)? Weak comparison, as RFC 9110 13.1.2 asks. */
export function ifNoneMatchHits(header: string | undefined, etag: string): boolean {
  if (!header) return false;
  const strip = (tag: string) => tag.trim().replace(/^W\//, '');
  return header.split(',').some((tag) => tag.trim() === '*' || strip(tag) === strip(etag));
}
