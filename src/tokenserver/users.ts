import type { Db } from '../db/index.js';
import { errors, type TokenserverError } from './errors.js';
import { isMaxGeneration, sqlInt, sqlIntOrNull } from './generation.js';
import { assignNode } from './nodes.js';

// Tokenserver user rows (sync-storage.md 1.7-1.9): finding the current row of an account,
// the consistency checks on what the request claims, and recording what it taught us. Every
// function here runs inside the user's write transaction and uses only `trx`.

/** What the request says about the account, after 0 was turned into "absent". */
export interface Claims {
  generation: number | undefined;
  keysChangedAt: number | undefined;
  /** Hex; '' when the key id carries no fingerprint. */
  clientState: string;
}

export interface UserRow {
  uid: number;
  generation: number;
  client_state: string;
  created_at: number;
  replaced_at: number | null;
  nodeid: number;
  keys_changed_at: number | null;
  /** URL of the row's node; null when that node row is gone. */
  node: string | null;
}

export interface UserContext {
  serviceId: number;
  email: string;
  allowNewUsers: boolean;
  releaseRate: number;
}

export interface CurrentUser {
  user: UserRow & { node: string };
  /** Client states of the account's other rows: never acceptable again. */
  oldClientStates: Set<string>;
  /** Rows this call marked replaced, whose data is to go. */
  superseded: UserRow[];
}

const HISTORY_LIMIT = 20;

/** The users.email of an account: `<fxa uid>@<FOXDEN_FXA_EMAIL_DOMAIN>`, as syncstorage-rs keys users. */
export function userEmail(fxaUid: string, domain: string): string {
  return `${fxaUid}@${domain}`;
}

function rowsQuery(trx: Db, serviceId: number, email: string) {
  return trx
    .selectFrom('users')
    .leftJoin('nodes', 'nodes.id', 'users.nodeid')
    .select([
      'users.uid',
      'users.generation',
      'users.client_state',
      'users.created_at',
      'users.replaced_at',
      'users.nodeid',
      'users.keys_changed_at',
      'nodes.node',
    ])
    .where('users.service', '=', serviceId)
    .where('users.email', '=', email);
}

type RawRow = Omit<UserRow, 'node'> & { node: string | null | undefined };
const toRow = (r: RawRow): UserRow => ({ ...r, uid: Number(r.uid), nodeid: Number(r.nodeid), node: r.node ?? null });

/** The account's newest rows, newest first. */
async function loadRows(trx: Db, serviceId: number, email: string): Promise<UserRow[]> {
  const rows = await rowsQuery(trx, serviceId, email).orderBy('users.created_at', 'desc').orderBy('users.uid', 'desc').limit(HISTORY_LIMIT).execute();
  return rows.map(toRow);
}

/** The account's unreplaced rows (other than `except`). */
export async function unreplacedRows(trx: Db, serviceId: number, email: string, except?: number): Promise<UserRow[]> {
  let query = rowsQuery(trx, serviceId, email).where('users.replaced_at', 'is', null);
  if (except !== undefined) query = query.where('users.uid', '<>', except);
  return (await query.execute()).map(toRow);
}

/** Insert a row for the account on a newly chosen node (1.10). */
async function allocate(
  trx: Db,
  ctx: UserContext,
  values: { generation: number; clientState: string; keysChangedAt: number | null },
  now: number,
): Promise<UserRow & { node: string }> {
  const node = await assignNode(trx, ctx.serviceId, ctx.releaseRate);
  const row = await trx
    .insertInto('users')
    .values({
      service: ctx.serviceId,
      email: ctx.email,
      generation: sqlInt(values.generation),
      client_state: values.clientState,
      created_at: now,
      replaced_at: null,
      nodeid: node.id,
      keys_changed_at: sqlIntOrNull(values.keysChangedAt),
    })
    .returning('uid')
    .executeTakeFirstOrThrow();
  return {
    uid: Number(row.uid),
    generation: values.generation,
    client_state: values.clientState,
    created_at: now,
    replaced_at: null,
    nodeid: node.id,
    keys_changed_at: values.keysChangedAt,
    node: node.node,
  };
}

/** The current row: greatest (generation, created_at), then the highest uid. */
function pickCurrent(rows: UserRow[]): UserRow {
  return rows.reduce((best, r) =>
    r.generation > best.generation ||
    (r.generation === best.generation && (r.created_at > best.created_at || (r.created_at === best.created_at && r.uid > best.uid)))
      ? r
      : best,
  );
}

/**
 * syncstorage-rs get_or_create_user: the account's current row, allocating one for a new
 * account or for one whose current row was replaced or lost its node.
 */
export async function getOrCreateUser(trx: Db, ctx: UserContext, claims: Claims): Promise<CurrentUser> {
  const rows = await loadRows(trx, ctx.serviceId, ctx.email);
  if (rows.length === 0) {
    if (!ctx.allowNewUsers) throw errors.newUsersDisabled();
    const user = await allocate(
      trx,
      ctx,
      { generation: claims.generation ?? 0, clientState: claims.clientState, keysChangedAt: claims.keysChangedAt ?? null },
      Date.now(),
    );
    return { user, oldClientStates: new Set(), superseded: [] };
  }

  const current = pickCurrent(rows);
  const others = rows.filter((r) => r !== current);
  const oldClientStates = new Set(others.map((r) => r.client_state).filter((cs) => cs !== current.client_state));

  // Race repair: rows left unreplaced by concurrent allocations are replaced as of the current row.
  const superseded = others.filter((r) => r.replaced_at === null);
  if (superseded.length > 0) {
    await trx
      .updateTable('users')
      .set({ replaced_at: current.created_at })
      .where('uid', 'in', superseded.map((r) => r.uid))
      .where('replaced_at', 'is', null)
      .execute();
  }

  if ((current.replaced_at !== null || current.node === null) && !isMaxGeneration(current.generation)) {
    const now = Math.max(Date.now(), current.created_at + 1);
    const user = await allocate(
      trx,
      ctx,
      { generation: current.generation, clientState: current.client_state, keysChangedAt: current.keys_changed_at },
      now,
    );
    if (current.replaced_at === null) {
      // Its node is gone: nothing to delete, but it is no longer the account's row.
      await trx.updateTable('users').set({ replaced_at: now }).where('uid', '=', current.uid).where('replaced_at', 'is', null).execute();
    } else if (current.node !== null) {
      superseded.push(current);
    }
    return { user, oldClientStates, superseded };
  }
  if (current.node === null) throw errors.internal('retired user has no node');
  return { user: { ...current, node: current.node }, oldClientStates, superseded };
}

type Maybe = number | null | undefined;
const known = (v: Maybe): v is number => v !== null && v !== undefined;
const gt = (a: Maybe, b: Maybe) => known(a) && known(b) && a > b;
const lt = (a: Maybe, b: Maybe) => known(a) && known(b) && a < b;
const le = (a: Maybe, b: Maybe) => known(a) && known(b) && a <= b;

/** The consistency checks of 1.8, in their order; undefined when the request passes. */
export function checkClaims(claims: Claims, user: UserRow, oldClientStates: Set<string>): TokenserverError | undefined {
  const { generation: gen, keysChangedAt: kca, clientState: cs } = claims;
  if (gt(kca, user.keys_changed_at) && lt(gen, kca)) return errors.invalidKeysChangedAt('keys_changed_at greater than generation');
  if (user.client_state !== '' && cs === '') return errors.unacceptableClientState('empty string');
  if (oldClientStates.has(cs)) return errors.unacceptableClientState('stale value');
  if (cs !== user.client_state && le(gen, user.generation)) return errors.unacceptableClientState('new value with no generation change');
  if (cs !== user.client_state && le(kca, user.keys_changed_at)) return errors.unacceptableClientState('new value with no keys_changed_at change');
  if (gt(user.generation, gen)) return errors.invalidGeneration('generation below the one seen before');
  if (gt(user.keys_changed_at, kca)) return errors.invalidKeysChangedAt('keys_changed_at below the one seen before');
  if (!known(kca) && known(user.keys_changed_at) && user.keys_changed_at !== 0) {
    return errors.invalidKeysChangedAt('no keys_changed_at for a user who sent one before');
  }
  return undefined;
}

export interface UpdatedUser {
  uid: number;
  generation: number;
  keysChangedAt: number | null;
  /** Rows replaced by a new client state, whose data is to go. */
  superseded: UserRow[];
}

/** The generation and keys_changed_at the row gets from a request that passed the checks (1.9). */
function nextValues(claims: Claims, user: UserRow): { generation: number; keysChangedAt: number | null } {
  let keysChangedAt: number | null;
  if (known(claims.keysChangedAt)) keysChangedAt = claims.keysChangedAt;
  else keysChangedAt = user.keys_changed_at === 0 ? 0 : null;

  let generation = user.generation;
  if (known(claims.generation)) {
    generation = claims.generation;
  } else if (known(claims.keysChangedAt)) {
    const kca = claims.keysChangedAt;
    if ((user.keys_changed_at === null || kca > user.keys_changed_at) && kca > user.generation) generation = kca;
  }
  return { generation, keysChangedAt };
}

/**
 * The common case, a known device refreshing its token, needs no write at all: one read
 * outside any transaction finds the current row, no race to repair, nothing to allocate, and
 * a request that either fails the checks or changes nothing. Then this answers (the row, or
 * the check's error); anything else gives undefined, and the caller takes the write path.
 */
export async function peekUser(db: Db, ctx: UserContext, claims: Claims): Promise<{ user: UserRow & { node: string }; error?: TokenserverError } | undefined> {
  const rows = await loadRows(db, ctx.serviceId, ctx.email);
  if (rows.length === 0) return undefined;
  const current = pickCurrent(rows);
  if (current.replaced_at !== null || current.node === null) return undefined;
  if (rows.some((r) => r !== current && r.replaced_at === null)) return undefined;
  const user = { ...current, node: current.node };
  const oldClientStates = new Set(rows.filter((r) => r !== current && r.client_state !== current.client_state).map((r) => r.client_state));
  const error = checkClaims(claims, user, oldClientStates);
  if (error) return { user, error };
  const next = nextValues(claims, user);
  if (claims.clientState !== user.client_state || next.generation !== user.generation || next.keysChangedAt !== user.keys_changed_at) return undefined;
  return { user };
}

/** syncstorage-rs update_user (1.9): a new row for new keys, else an in-place update that never goes backwards. */
export async function updateUser(trx: Db, ctx: UserContext, claims: Claims, user: UserRow & { node: string }): Promise<UpdatedUser> {
  const { generation, keysChangedAt } = nextValues(claims, user);

  if (claims.clientState !== user.client_state) {
    // Created strictly after the row it replaces, so it sorts as current even within one millisecond.
    const now = Math.max(Date.now(), user.created_at + 1);
    const inserted = await trx
      .insertInto('users')
      .values({
        service: ctx.serviceId,
        email: ctx.email,
        generation: sqlInt(generation),
        client_state: claims.clientState,
        created_at: now,
        replaced_at: null,
        nodeid: user.nodeid,
        keys_changed_at: sqlIntOrNull(keysChangedAt),
      })
      .returning('uid')
      .executeTakeFirstOrThrow();
    const uid = Number(inserted.uid);
    const replaced = await unreplacedRows(trx, ctx.serviceId, ctx.email, uid);
    if (replaced.length > 0) {
      await trx
        .updateTable('users')
        .set({ replaced_at: now })
        .where('service', '=', ctx.serviceId)
        .where('email', '=', ctx.email)
        .where('uid', 'in', replaced.map((r) => r.uid))
        .where('replaced_at', 'is', null)
        .execute();
    }
    return { uid, generation, keysChangedAt, superseded: replaced };
  }

  if (generation !== user.generation || keysChangedAt !== user.keys_changed_at) {
    const kcaParam = sqlIntOrNull(keysChangedAt);
    await trx
      .updateTable('users')
      .set({ generation: sqlInt(generation), keys_changed_at: kcaParam })
      .where('service', '=', ctx.serviceId)
      .where('email', '=', ctx.email)
      .where('generation', '<=', sqlInt(generation))
      .where((eb) =>
        eb(eb.fn.coalesce('keys_changed_at', eb.lit(0)), '<=', eb.fn.coalesce(eb.val(kcaParam), 'keys_changed_at', eb.lit(0))),
      )
      .where('replaced_at', 'is', null)
      .execute();
  }
  return { uid: user.uid, generation, keysChangedAt, superseded: [] };
}
