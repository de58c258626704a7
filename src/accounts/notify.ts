import type { AccountsContext } from './context.js';

// Push messages to a user's devices (fxa-auth.md 7). Sent after the request's work is done and
// never failing it; a subscription the push service calls gone is marked expired, so Firefox
// re-subscribes when it next lists devices.

export interface PushPayload {
  version: 1;
  command: string;
  data?: Record<string, unknown>;
}

/** Upstream TTLs per message, in seconds. */
export const PUSH_TTL: Record<string, number> = {
  'fxaccounts:device_connected': 0,
  'fxaccounts:device_disconnected': 5 * 3600,
  'fxaccounts:password_changed': 6 * 3600,
  'fxaccounts:password_reset': 6 * 3600,
  'fxaccounts:account_destroyed': 5 * 3600,
  'fxaccounts:profile_updated': 0,
  'fxaccounts:command_received': 6 * 3600,
};

interface DeviceRow {
  id: string;
  push_callback: string | null;
  push_public_key: string | null;
  push_auth_key: string | null;
  push_endpoint_expired: number;
}

/** Load the push targets now (before rows are deleted), send later. */
export async function pushTargets(ctx: AccountsContext, uid: string, options: { only?: string[]; except?: string[] } = {}): Promise<DeviceRow[]> {
  let q = ctx.db
    .selectFrom('devices')
    .select(['id', 'push_callback', 'push_public_key', 'push_auth_key', 'push_endpoint_expired'])
    .where('uid', '=', uid)
    .where('push_callback', 'is not', null);
  if (options.only) {
    if (options.only.length === 0) return [];
    q = q.where('id', 'in', options.only);
  }
  const rows = await q.execute();
  const except = new Set(options.except ?? []);
  return rows.filter((r) => !except.has(r.id) && r.push_endpoint_expired === 0);
}

/** Fire and forget: each device gets the payload; failures are logged by the sender. */
export function pushTo(ctx: AccountsContext, devices: DeviceRow[], payload: PushPayload | undefined, ttlSeconds?: number): Promise<void> {
  const ttl = ttlSeconds ?? (payload ? (PUSH_TTL[payload.command] ?? 0) : 0);
  const all = devices.map(async (device) => {
    const outcome = await ctx.push.send(
      { pushCallback: device.push_callback, pushPublicKey: device.push_public_key, pushAuthKey: device.push_auth_key },
      payload,
      ttl,
    );
    if (outcome === 'expired') {
      await ctx.db.updateTable('devices').set({ push_endpoint_expired: 1 }).where('id', '=', device.id).execute();
    }
  });
  return Promise.allSettled(all).then((results) => {
    for (const r of results) if (r.status === 'rejected') ctx.log.warn({ reason: String(r.reason) }, 'push bookkeeping failed');
  });
}

/** Load targets, then push without waiting. */
export async function notifyDevices(
  ctx: AccountsContext,
  uid: string,
  payload: PushPayload | undefined,
  options: { only?: string[]; except?: string[]; ttl?: number } = {},
): Promise<() => Promise<void>> {
  const targets = await pushTargets(ctx, uid, options);
  return () => pushTo(ctx, targets, payload, options.ttl);
}
