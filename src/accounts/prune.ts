import { deleteDevices, withAccountLock, type AccountsContext } from './context.js';

// Housekeeping for the accounts tables: what has expired goes, as upstream's pruning does.

/** Sessions that never registered a device are dropped after this long unused. */
export const IDLE_SESSION_MS = 28 * 24 * 3600 * 1000;
/** OAuth refresh tokens (and the devices of mobile clients they carry) expire after this long unused. */
export const REFRESH_TOKEN_IDLE_MS = 180 * 24 * 3600 * 1000;
/** Unused key-fetch tokens. */
export const KEY_FETCH_LIFETIME_MS = 24 * 3600 * 1000;

export async function pruneAccounts(ctx: AccountsContext, now = Date.now()): Promise<number> {
  const db = ctx.db;
  let removed = 0;
  const count = (r: { numDeletedRows: bigint }) => (removed += Number(r.numDeletedRows));
  count(await db.deleteFrom('codes').where('expires_at', '<=', now).executeTakeFirst());
  count(await db.deleteFrom('account_tokens').where('expires_at', '<=', now).executeTakeFirst());
  count(await db.deleteFrom('key_fetch_tokens').where('created_at', '<=', now - KEY_FETCH_LIFETIME_MS).executeTakeFirst());
  count(await db.deleteFrom('device_commands').where('expires_at', '<=', now).executeTakeFirst());
  count(await db.deleteFrom('invites').where('expires_at', '<=', now).executeTakeFirst());
  count(await db.deleteFrom('oauth_codes').where('expires_at', '<=', now).executeTakeFirst());
  const idleRefresh = await db.selectFrom('refresh_tokens').select(['token_hash', 'uid']).where('last_used_at', '<=', now - REFRESH_TOKEN_IDLE_MS).execute();
  for (const r of idleRefresh) {
    await withAccountLock(ctx, r.uid, async (trx) => {
      const devices = await trx.selectFrom('devices').select('id').where('refresh_token_id', '=', r.token_hash).execute();
      await deleteDevices(trx, devices.map((d) => d.id));
      count(await trx.deleteFrom('refresh_tokens').where('token_hash', '=', r.token_hash).executeTakeFirst());
    });
  }
  count(
    await db
      .deleteFrom('session_tokens')
      .where('last_access_at', '<=', now - IDLE_SESSION_MS)
      .where('token_id', 'not in', db.selectFrom('devices').select('session_token_id').where('session_token_id', 'is not', null).$castTo<string>())
      .executeTakeFirst(),
  );
  removed += await ctx.customs.prune();
  return removed;
}
