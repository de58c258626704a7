import type { AccountsContext } from '../accounts/context.js';
import { notifyDevices } from '../accounts/notify.js';

// What every profile change does besides its own write: a later profileChangedAt, and a push
// that makes Firefox fetch the profile again.

/** A profileChangedAt strictly after the previous one. */
export function nextProfileChange(previous: number | string): number {
  return Math.max(Date.now(), Number(previous) + 1);
}

/** Push fxaccounts:profile_updated to every device of the account, without waiting for it. */
export async function announceProfileChange(ctx: AccountsContext, uid: string): Promise<void> {
  const push = await notifyDevices(ctx, uid, { version: 1, command: 'fxaccounts:profile_updated' });
  void push();
}
