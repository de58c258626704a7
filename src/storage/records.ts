import { sql } from '../db/kysely.js';
import { statementChunks } from '../db/chunks.js';
import type { Db } from '../db/index.js';
import type { BsosTable } from '../db/schema.js';
import { expiryFor, type BsoInput } from './bso.js';
import { OverQuota } from './errors.js';

// Writing records: the per-field merge every write path shares (PUT, POST, batch commit).

export type ExistingRows = Map<string, BsosTable>;

/** The stored rows (expired ones included) for these ids. */
export async function loadExisting(trx: Db, uid: number, collectionId: number, ids: readonly string[]): Promise<ExistingRows> {
  const rows = new Map<string, BsosTable>();
  for (const part of statementChunks(trx, ids)) {
    const found = await trx
      .selectFrom('bsos')
      .selectAll()
      .where('user_id', '=', uid)
      .where('collection_id', '=', collectionId)
      .where('bso_id', 'in', part)
      .execute();
    for (const r of found) rows.set(r.bso_id, r);
  }
  return rows;
}

/**
 * Apply records at time `t`: only the fields sent change; a record is restamped when its
 * payload or sortindex is sent (a ttl-only update keeps its `modified`); expired rows count as
 * absent. Checks the quota, and updates the collection's timestamp and byte count.
 */
export async function applyRecords(
  trx: Db,
  uid: number,
  collectionId: number,
  items: readonly BsoInput[],
  t: number,
  now: number,
  quotaBytes: number,
  existing?: ExistingRows,
): Promise<void> {
  const stored = existing ?? (await loadExisting(trx, uid, collectionId, items.map((i) => i.id)));
  let delta = 0;
  const rows: BsosTable[] = items.map((item) => {
    const old = stored.get(item.id);
    if (old) delta -= old.payload_size;
    const live = old !== undefined && old.expiry_ms > now;
    const payload = item.payload ?? (live ? old.payload : '');
    const payloadSize = item.payload !== undefined ? Buffer.byteLength(item.payload, 'utf8') : live ? old.payload_size : 0;
    delta += payloadSize;
    const touched = !live || item.payload !== undefined || item.sortindex !== undefined;
    return {
      user_id: uid,
      collection_id: collectionId,
      bso_id: item.id,
      payload,
      payload_size: payloadSize,
      sortindex: item.sortindex !== undefined ? item.sortindex : live ? old.sortindex : null,
      modified_ms: touched ? t : old!.modified_ms,
      expiry_ms: item.ttl === undefined && live ? old.expiry_ms : expiryFor(t, item.ttl),
    };
  });

  if (quotaBytes > 0 && delta > 0 && (await usedBytes(trx, uid)) + delta > quotaBytes) throw new OverQuota();

  for (const part of statementChunks(trx, rows)) {
    await trx
      .insertInto('bsos')
      .values(part)
      .onConflict((oc) =>
        oc.columns(['user_id', 'collection_id', 'bso_id']).doUpdateSet((eb) => ({
          payload: eb.ref('excluded.payload'),
          payload_size: eb.ref('excluded.payload_size'),
          sortindex: eb.ref('excluded.sortindex'),
          modified_ms: eb.ref('excluded.modified_ms'),
          expiry_ms: eb.ref('excluded.expiry_ms'),
        })),
      )
      .execute();
  }
  await touchCollection(trx, uid, collectionId, t, delta);
}

/** Payload bytes counted against a user's quota (expired records included until purged). */
export async function usedBytes(db: Db, uid: number): Promise<number> {
  const row = await db
    .selectFrom('user_collections')
    .select((eb) => eb.fn.coalesce(eb.fn.sum<number>('total_bytes'), sql<number>`0`).as('bytes'))
    .where('user_id', '=', uid)
    .executeTakeFirstOrThrow();
  return Number(row.bytes);
}

/** The query for a collection's timestamp, to run alone or to embed as a scalar subquery. */
export function collectionTimeQuery(db: Db, uid: number, collectionId: number) {
  return db.selectFrom('user_collections').select('modified_ms').where('user_id', '=', uid).where('collection_id', '=', collectionId);
}

/** Set a collection's timestamp to `t` (creating its row) and adjust its byte count. */
export async function touchCollection(trx: Db, uid: number, collectionId: number, t: number, byteDelta = 0): Promise<void> {
  await trx
    .insertInto('user_collections')
    .values({ user_id: uid, collection_id: collectionId, modified_ms: t, total_bytes: Math.max(0, byteDelta) })
    .onConflict((oc) =>
      oc.columns(['user_id', 'collection_id']).doUpdateSet({
        modified_ms: t,
        total_bytes: sql<number>`user_collections.total_bytes + ${byteDelta}`,
      }),
    )
    .execute();
}

/** Delete some records by id; returns how many payload bytes went with them. */
export async function deleteRecords(trx: Db, uid: number, collectionId: number, ids: readonly string[]): Promise<number> {
  let bytes = 0;
  for (const part of statementChunks(trx, ids)) {
    const gone = await trx
      .deleteFrom('bsos')
      .where('user_id', '=', uid)
      .where('collection_id', '=', collectionId)
      .where('bso_id', 'in', part)
      .returning('payload_size')
      .execute();
    for (const g of gone) bytes += g.payload_size;
  }
  return bytes;
}
