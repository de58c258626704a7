import type { SessionCredentials } from '../accounts/auth.js';
import { requireAccount } from '../accounts/context.js';
import { errors } from '../accounts/errors.js';
import { allowedScopes, requireClient } from './authorization.js';
import type { OauthContext } from './context.js';
import { KEY_BEARING_SCOPES, parseScopes } from './scopes.js';

// POST /account/scoped-key-data (fxa-auth.md 5.3): what the page needs to derive each scoped
// key from kB. Per-scope rotation was never built upstream, so the secret is all zeros and the
// timestamp is when kB last changed: the kid moves exactly when the key does.

const NO_ROTATION_SECRET = '0'.repeat(64);

export async function scopedKeyData(o: OauthContext, session: SessionCredentials, input: { client_id: string; scope: string }) {
  const client = requireClient(o, input.client_id);
  const scopes = allowedScopes(client, parseScopes(input.scope));
  const account = await requireAccount(o.ctx.db, session.uid);
  const keyed = scopes.filter((s) => KEY_BEARING_SCOPES.has(s));
  if (keyed.length === 0) return {};
  if (!account.email_verified) throw errors.unverifiedAccount();
  if (!session.verified) throw errors.unverifiedSession();
  const timestamp = Math.max(Number(account.keys_changed_at) || Number(account.verifier_set_at), 0);
  return Object.fromEntries(
    keyed.map((identifier) => [identifier, { identifier, keyRotationSecret: NO_ROTATION_SECRET, keyRotationTimestamp: timestamp }]),
  );
}
