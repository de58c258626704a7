import { deleteDevices, withAccountLock } from '../accounts/context.js';
import { notifyDevices } from '../accounts/notify.js';
import { storedTokenHash } from '../crypto/fxa-tokens.js';
import { secretMatches } from './clients.js';
import type { OauthContext } from './context.js';
import { oauthErrors } from './errors.js';

// POST /oauth/destroy (fxa-auth.md 5.6, RFC 7009): revoke a refresh token. Unknown tokens
// succeed too, and so do access tokens, which are short-lived JWTs nobody stores. Firefox
// fails its whole sign-in unless this answers 2xx JSON.

export interface DestroyInput {
  client_id?: string;
  client_secret?: string;
  token?: string;
  token_type_hint?: 'access_token' | 'refresh_token';
  access_token?: string;
  refresh_token?: string;
}

export async function destroyToken(o: OauthContext, input: DestroyInput): Promise<Record<string, never>> {
  const client = input.client_id === undefined ? undefined : o.clients.get(input.client_id);
  if (input.client_id !== undefined && !client) throw oauthErrors.unknownClient(input.client_id);
  if (client && input.client_secret !== undefined && !secretMatches(client, input.client_secret)) throw oauthErrors.incorrectSecret(client.id);
  const token = input.token ?? input.refresh_token ?? input.access_token;
  if (!token || !/^[0-9a-f]{64}$/i.test(token)) return {};
  const hash = storedTokenHash(token.toLowerCase());
  const row = await o.ctx.db.selectFrom('refresh_tokens').select(['uid', 'client_id']).where('token_hash', '=', hash).executeTakeFirst();
  // A client may only revoke its own tokens; someone else's is "unknown" to it.
  if (!row || (client && row.client_id !== client.id)) return {};
  const device = await o.ctx.db.selectFrom('devices').select('id').where('refresh_token_id', '=', hash).executeTakeFirst();
  const push = device
    ? await notifyDevices(o.ctx, row.uid, { version: 1, command: 'fxaccounts:device_disconnected', data: { id: device.id } }, { except: [device.id] })
    : undefined;
  await withAccountLock(o.ctx, row.uid, async (trx) => {
    if (device) await deleteDevices(trx, [device.id]);
    await trx.deleteFrom('refresh_tokens').where('token_hash', '=', hash).execute();
  });
  if (push) void push();
  return {};
}
