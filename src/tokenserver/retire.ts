import type { TokenserverSettings } from '../config.js';
import { writeTransaction, type Database } from '../db/index.js';
import { MAX_GENERATION_NUMBER, sqlInt } from './generation.js';
import { deleteLocalData, type TokenserverContext } from './issue.js';
import { userLockKey } from './locks.js';
import { queueSuperseded } from './purge.js';
import { unreplacedRows, userEmail } from './users.js';

// The account is gone (sync-storage.md 1.16, delete-user): every unreplaced row of it gets
// generation = MAX_GENERATION and replaced_at = now, so no token is issued for it again, and
// the data of those uids is deleted here or queued for its remote node.

export interface RetireContext extends Pick<TokenserverContext, 'deleteLocalUser' | 'log'> {
  database: Database;
  settings: Pick<TokenserverSettings, 'fxaEmailDomain'>;
  serviceId: number;
  localNodeId: () => number | undefined;
}

export async function retireUser(ctx: RetireContext, fxaUid: string): Promise<void> {
  const email = userEmail(fxaUid, ctx.settings.fxaEmailDomain);
  const localNodeId = ctx.localNodeId();
  const local = await writeTransaction(ctx.database, userLockKey(email), async (trx) => {
    const rows = await unreplacedRows(trx, ctx.serviceId, email);
    if (rows.length === 0) return [];
    const now = Date.now();
    await trx
      .updateTable('users')
      .set({ generation: sqlInt(MAX_GENERATION_NUMBER), replaced_at: now })
      .where('uid', 'in', rows.map((r) => r.uid))
      .where('replaced_at', 'is', null)
      .execute();
    return queueSuperseded(trx, rows, fxaUid, localNodeId, now);
  });
  if (local.length > 0) ctx.log.info({ uids: local.length }, 'storage users of a deleted account retired');
  await deleteLocalData(ctx, local);
}
