import { randomBytes } from 'node:crypto';
import type { Db } from '../db/index.js';
import type { DevicesTable } from '../db/schema.js';
import { refuseIfLimited } from './account.js';
import type { RefreshCredentials, SessionCredentials } from './auth.js';
import { deleteDevices, withAccountLock, type AccountsContext, type RequestInfo } from './context.js';
import { errors } from './errors.js';
import { notifyDevices, pushTo, pushTargets, type PushPayload } from './notify.js';
import { destroySessionRows } from './session.js';

// Devices, device commands (Send Tab) and attached clients (fxa-auth.md 4.5, 4.6). A device
// belongs to one session token, or to one OAuth refresh token for mobile clients.

export type DeviceOwner = SessionCredentials | RefreshCredentials;

/** Commands live this long unless the sender asks for less (upstream: 30 days for open-uri). */
const DEFAULT_COMMAND_TTL_S = 30 * 24 * 3600;
const MAX_COMMAND_TTL_S = 30 * 24 * 3600;

export interface DeviceInput {
  id?: string;
  name?: string;
  type?: string;
  pushCallback?: string;
  pushPublicKey?: string;
  pushAuthKey?: string;
  availableCommands?: Record<string, string>;
}

function ownerColumn(owner: DeviceOwner): 'session_token_id' | 'refresh_token_id' {
  return owner.kind === 'sessionToken' ? 'session_token_id' : 'refresh_token_id';
}

function deviceJson(d: DevicesTable) {
  return {
    id: d.id,
    createdAt: Number(d.created_at),
    name: d.name,
    type: d.type,
    pushCallback: d.push_callback,
    pushPublicKey: d.push_public_key,
    pushAuthKey: d.push_auth_key,
    pushEndpointExpired: d.push_endpoint_expired === 1,
    availableCommands: JSON.parse(d.available_commands) as Record<string, string>,
  };
}

async function ownDevice(db: Db, owner: DeviceOwner): Promise<DevicesTable | undefined> {
  return db.selectFrom('devices').selectAll().where(ownerColumn(owner), '=', owner.id).executeTakeFirst();
}

/** Register (no id) or update (id) the caller's device. */
export async function upsertDevice(ctx: AccountsContext, owner: DeviceOwner, input: DeviceInput) {
  const push =
    input.pushCallback === undefined
      ? {}
      : input.pushCallback === ''
        ? { push_callback: null, push_public_key: null, push_auth_key: null, push_endpoint_expired: 0 }
        : { push_callback: input.pushCallback, push_public_key: input.pushPublicKey || null, push_auth_key: input.pushAuthKey || null, push_endpoint_expired: 0 };
  const { device, created } = await withAccountLock(ctx, owner.uid, async (trx) => {
    const mine = await ownDevice(trx, owner);
    if (input.id === undefined) {
      if (mine) throw errors.deviceConflict(mine.id);
      const row: DevicesTable = {
        id: randomBytes(16).toString('hex'),
        uid: owner.uid,
        session_token_id: owner.kind === 'sessionToken' ? owner.id : null,
        refresh_token_id: owner.kind === 'refreshToken' ? owner.id : null,
        name: input.name ?? '',
        type: input.type ?? 'desktop',
        created_at: Date.now(),
        push_callback: null,
        push_public_key: null,
        push_auth_key: null,
        push_endpoint_expired: 0,
        available_commands: JSON.stringify(input.availableCommands ?? {}),
        command_index: 0,
        ...push,
      };
      await trx.insertInto('devices').values(row).execute();
      return { device: row, created: true };
    }
    if (!mine || mine.id !== input.id) throw errors.unknownDevice();
    const changes = {
      ...(input.name !== undefined ? { name: input.name } : {}),
      ...(input.type !== undefined ? { type: input.type } : {}),
      ...(input.availableCommands !== undefined ? { available_commands: JSON.stringify(input.availableCommands) } : {}),
      ...push,
    };
    if (Object.keys(changes).length > 0) await trx.updateTable('devices').set(changes).where('id', '=', mine.id).execute();
    return { device: { ...mine, ...changes } as DevicesTable, created: false };
  });
  if (created) {
    const send = await notifyDevices(ctx, owner.uid, { version: 1, command: 'fxaccounts:device_connected', data: { deviceName: device.name } }, { except: [device.id] });
    void send();
  }
  return deviceJson(device);
}

function relativeTime(ms: number, now: number): string {
  const s = Math.max(0, Math.round((now - ms) / 1000));
  if (s < 60) return 'a few seconds ago';
  const m = Math.round(s / 60);
  if (m < 60) return m === 1 ? 'a minute ago' : `${m} minutes ago`;
  const h = Math.round(m / 60);
  if (h < 24) return h === 1 ? 'an hour ago' : `${h} hours ago`;
  const d = Math.round(h / 24);
  if (d < 30) return d === 1 ? 'a day ago' : `${d} days ago`;
  const mo = Math.round(d / 30);
  return mo === 1 ? 'a month ago' : `${mo} months ago`;
}

interface DeviceWithAccess extends DevicesTable {
  last_access_at: number | null;
}

async function devicesWithAccess(db: Db, uid: string): Promise<DeviceWithAccess[]> {
  const rows = await db
    .selectFrom('devices')
    .leftJoin('session_tokens', 'session_tokens.token_id', 'devices.session_token_id')
    .leftJoin('refresh_tokens', 'refresh_tokens.token_hash', 'devices.refresh_token_id')
    .selectAll('devices')
    .select(['session_tokens.last_access_at as session_access', 'refresh_tokens.last_used_at as refresh_access'])
    .where('devices.uid', '=', uid)
    .orderBy('devices.created_at')
    .execute();
  return rows.map((r) => {
    const { session_access, refresh_access, ...device } = r;
    const access = session_access ?? refresh_access;
    return { ...device, last_access_at: access === null ? null : Number(access) };
  });
}

export async function listDevices(ctx: AccountsContext, owner: DeviceOwner, filterIdleDevicesTimestamp?: number) {
  const now = Date.now();
  const devices = await devicesWithAccess(ctx.db, owner.uid);
  const column = ownerColumn(owner);
  return devices
    .filter((d) => {
      const current = d[column] === owner.id;
      return current || filterIdleDevicesTimestamp === undefined || (d.last_access_at ?? 0) >= filterIdleDevicesTimestamp;
    })
    .map((d) => {
      const access = d.last_access_at ?? Number(d.created_at);
      return {
        ...deviceJson(d),
        isCurrentDevice: d[column] === owner.id,
        lastAccessTime: access,
        lastAccessTimeFormatted: relativeTime(access, now),
        approximateLastAccessTime: access,
        approximateLastAccessTimeFormatted: relativeTime(access, now),
        location: {},
      };
    });
}

/** Disconnect a device: it goes with its session (or refresh token); every device hears of it. */
export async function destroyDevice(ctx: AccountsContext, uid: string, deviceId: string) {
  const device = await ctx.db.selectFrom('devices').selectAll().where('id', '=', deviceId).where('uid', '=', uid).executeTakeFirst();
  if (!device) throw errors.unknownDevice();
  if (device.session_token_id) return destroySessionRows(ctx, uid, device.session_token_id).then(() => ({}));
  const send = await notifyDevices(ctx, uid, { version: 1, command: 'fxaccounts:device_disconnected', data: { id: device.id } });
  await withAccountLock(ctx, uid, async (trx) => {
    await deleteDevices(trx, [device.id]);
    if (device.refresh_token_id) await trx.deleteFrom('refresh_tokens').where('token_hash', '=', device.refresh_token_id).execute();
  });
  void send();
  return {};
}

export async function invokeCommand(
  ctx: AccountsContext,
  owner: DeviceOwner,
  input: { target: string; command: string; payload: Record<string, unknown>; ttl?: number },
  req: RequestInfo,
) {
  await refuseIfLimited(ctx, 'invokeDeviceCommand', { ip: req.ip, uid: owner.uid });
  const sender = await ownDevice(ctx.db, owner);
  const ttl = Math.min(input.ttl ?? DEFAULT_COMMAND_TTL_S, MAX_COMMAND_TTL_S);
  const now = Date.now();
  const index = await withAccountLock(ctx, owner.uid, async (trx) => {
    const target = await trx.selectFrom('devices').selectAll().where('id', '=', input.target).where('uid', '=', owner.uid).executeTakeFirst();
    if (!target) throw errors.unknownDevice();
    const commands = JSON.parse(target.available_commands) as Record<string, string>;
    if (!Object.hasOwn(commands, input.command)) throw errors.unavailableDeviceCommand();
    const idx = Number(target.command_index) + 1;
    await trx.updateTable('devices').set({ command_index: idx }).where('id', '=', target.id).execute();
    await trx
      .insertInto('device_commands')
      .values({
        device_id: target.id,
        idx,
        uid: owner.uid,
        command: input.command,
        payload: JSON.stringify(input.payload),
        sender: sender?.id ?? null,
        created_at: now,
        expires_at: now + ttl * 1000,
      })
      .execute();
    return idx;
  });
  const url = `${req.origin}/auth/v1/account/device/commands?index=${index}&limit=1`;
  const targets = await pushTargets(ctx, owner.uid, { only: [input.target] });
  if (targets.length === 0) return { enqueued: true, notified: false };
  // As upstream: the push lives as long as the command when the sender gave a ttl, and open-uri's
  // default is 30 days; any other command's push gets PUSH_TTL's 6 hours (fxa-auth.md 7.1).
  const pushTtl = input.ttl ?? (input.command === 'https://identity.mozilla.com/cmd/open-uri' ? ttl : undefined);
  await pushTo(ctx, targets, { version: 1, command: 'fxaccounts:command_received', data: { command: input.command, index, sender: sender?.id, url } }, pushTtl);
  const after = await ctx.db.selectFrom('devices').select('push_endpoint_expired').where('id', '=', input.target).executeTakeFirst();
  return after?.push_endpoint_expired ? { enqueued: true, notified: false, notifyError: 'push endpoint expired' } : { enqueued: true, notified: true };
}

export async function deviceCommands(ctx: AccountsContext, owner: DeviceOwner, index: number, limit: number) {
  const device = await ownDevice(ctx.db, owner);
  if (!device) throw errors.unknownDevice();
  const now = Date.now();
  const rows = await ctx.db
    .selectFrom('device_commands')
    .selectAll()
    .where('device_id', '=', device.id)
    .where('idx', '>=', index)
    .where('expires_at', '>', now)
    .orderBy('idx')
    .limit(limit + 1)
    .execute();
  const page = rows.slice(0, limit);
  return {
    index: page.length > 0 ? Number(page[page.length - 1]!.idx) : index,
    last: rows.length <= limit,
    messages: page.map((r) => ({
      index: Number(r.idx),
      data: { command: r.command, payload: JSON.parse(r.payload) as unknown, sender: r.sender ?? undefined },
    })),
  };
}

export async function notifyOtherDevices(
  ctx: AccountsContext,
  owner: DeviceOwner,
  input: { to: 'all' | string[]; excluded?: string[]; payload: PushPayload; TTL?: number },
  req: RequestInfo,
) {
  await refuseIfLimited(ctx, 'devicesNotify', { ip: req.ip, uid: owner.uid });
  const send =
    input.to === 'all'
      ? await notifyDevices(ctx, owner.uid, input.payload, { except: input.excluded ?? [], ttl: input.TTL ?? 0 })
      : await notifyDevices(ctx, owner.uid, input.payload, { only: input.to, ttl: input.TTL ?? 0 });
  void send();
  return {};
}

/** Devices, sessions and OAuth refresh tokens, merged into one entry per client. */
export async function attachedClients(ctx: AccountsContext, owner: DeviceOwner) {
  const now = Date.now();
  const [devices, sessions, refreshTokens] = await Promise.all([
    ctx.db.selectFrom('devices').selectAll().where('uid', '=', owner.uid).execute(),
    ctx.db.selectFrom('session_tokens').selectAll().where('uid', '=', owner.uid).execute(),
    ctx.db.selectFrom('refresh_tokens').selectAll().where('uid', '=', owner.uid).execute(),
  ]);
  const deviceBySession = new Map(devices.filter((d) => d.session_token_id).map((d) => [d.session_token_id!, d]));
  const deviceByRefresh = new Map(devices.filter((d) => d.refresh_token_id).map((d) => [d.refresh_token_id!, d]));
  const entry = (fields: {
    clientId: string | null;
    device?: DevicesTable;
    sessionTokenId: string | null;
    refreshTokenId: string | null;
    isCurrent: boolean;
    scope: string[] | null;
    userAgent: string;
    created: number;
    access: number;
    name: string | null;
  }) => ({
    clientId: fields.clientId,
    deviceId: fields.device?.id ?? null,
    sessionTokenId: fields.sessionTokenId,
    refreshTokenId: fields.refreshTokenId,
    isCurrentSession: fields.isCurrent,
    deviceType: fields.device?.type ?? null,
    name: fields.device?.name ?? fields.name,
    scope: fields.scope,
    location: {},
    userAgent: fields.userAgent,
    os: null,
    createdTime: fields.created,
    createdTimeFormatted: relativeTime(fields.created, now),
    lastAccessTime: fields.access,
    lastAccessTimeFormatted: relativeTime(fields.access, now),
    approximateLastAccessTime: fields.access,
    approximateLastAccessTimeFormatted: relativeTime(fields.access, now),
  });
  const out = sessions.map((s) =>
    entry({
      clientId: null,
      device: deviceBySession.get(s.token_id),
      sessionTokenId: s.token_id,
      refreshTokenId: null,
      isCurrent: owner.kind === 'sessionToken' && owner.id === s.token_id,
      scope: null,
      userAgent: s.user_agent,
      created: Number(s.created_at),
      access: Number(s.last_access_at),
      name: null,
    }),
  );
  for (const r of refreshTokens) {
    out.push(
      entry({
        clientId: r.client_id,
        device: deviceByRefresh.get(r.token_hash),
        sessionTokenId: null,
        refreshTokenId: r.token_hash,
        isCurrent: owner.kind === 'refreshToken' && owner.id === r.token_hash,
        scope: r.scope.split(/\s+/).filter(Boolean),
        userAgent: '',
        created: Number(r.created_at),
        access: Number(r.last_used_at),
        name: ctx.clientName?.(r.client_id) ?? null,
      }),
    );
  }
  return out;
}

export async function destroyAttachedClient(
  ctx: AccountsContext,
  owner: DeviceOwner,
  input: { clientId?: string; deviceId?: string; sessionTokenId?: string; refreshTokenId?: string },
) {
  if (input.deviceId) return destroyDevice(ctx, owner.uid, input.deviceId);
  if (input.sessionTokenId) {
    const s = await ctx.db.selectFrom('session_tokens').select('uid').where('token_id', '=', input.sessionTokenId).executeTakeFirst();
    if (!s || s.uid !== owner.uid) throw errors.invalidParameter('unknown sessionTokenId', ['sessionTokenId']);
    await destroySessionRows(ctx, owner.uid, input.sessionTokenId);
    return {};
  }
  if (input.refreshTokenId) {
    const r = await ctx.db.selectFrom('refresh_tokens').select('uid').where('token_hash', '=', input.refreshTokenId).executeTakeFirst();
    if (!r || r.uid !== owner.uid) throw errors.invalidParameter('unknown refreshTokenId', ['refreshTokenId']);
    const device = await ctx.db.selectFrom('devices').select('id').where('refresh_token_id', '=', input.refreshTokenId).executeTakeFirst();
    if (device) return destroyDevice(ctx, owner.uid, device.id);
    await ctx.db.deleteFrom('refresh_tokens').where('token_hash', '=', input.refreshTokenId).execute();
    return {};
  }
  if (input.clientId) {
    const tokens = await ctx.db.selectFrom('refresh_tokens').select('token_hash').where('uid', '=', owner.uid).where('client_id', '=', input.clientId).execute();
    for (const t of tokens) await destroyAttachedClient(ctx, owner, { refreshTokenId: t.token_hash });
    return {};
  }
  throw errors.missingParameter('deviceId');
}
