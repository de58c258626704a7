import { randomUUID } from 'node:crypto';
import { sql } from '../db/kysely.js';
import { statementChunks } from '../db/chunks.js';
import type { Db } from '../db/index.js';
import type { BatchBsosTable } from '../db/schema.js';
import type { BsoInput } from './bso.js';
import { badRequest, tooLarge } from './errors.js';

// Batch uploads (sync-storage.md 2.11): items are staged per (user, collection, batch) and
// applied all at once by the commit.

export const BATCH_LIFETIME_MS = 2 * 60 * 60 * 1000;
const BATCH_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
/** Staged ttl_s value meaning "ttl sent as null". */
const TTL_NULL = -1;

export async function createBatch(trx: Db, uid: number, collectionId: number, now: number): Promise<string> {
  const batchId = randomUUID();
  await trx
    .insertInto('batches')
    .values({ user_id: uid, collection_id: collectionId, batch_id: batchId, expiry_ms: now + BATCH_LIFETIME_MS })
    .execute();
  return batchId;
}

/** Throws 400 unless the batch exists, is this user's and collection's, and has not expired. */
export async function requireBatch(trx: Db, uid: number, collectionId: number | undefined, batchId: string, now: number): Promise<void> {
  if (collectionId === undefined || !BATCH_ID.test(batchId)) throw badRequest('batch not found');
  const row = await trx
    .selectFrom('batches')
    .select('expiry_ms')
    .where('user_id', '=', uid)
    .where('collection_id', '=', collectionId)
    .where('batch_id', '=', batchId)
    .executeTakeFirst();
  if (!row || row.expiry_ms <= now) throw badRequest('batch not found');
}

/** Stage items; an id sent again keeps its earlier fields unless this request sends them anew. */
export async function stageItems(
  trx: Db,
  uid: number,
  collectionId: number,
  batchId: string,
  items: readonly BsoInput[],
  limits: { maxTotalRecords: number; maxTotalBytes: number },
): Promise<void> {
  const rows: BatchBsosTable[] = items.map((b) => ({
    user_id: uid,
    collection_id: collectionId,
    batch_id: batchId,
    bso_id: b.id,
    sortindex: b.sortindex ?? null,
    payload: b.payload ?? null,
    payload_size: b.payload !== undefined ? Buffer.byteLength(b.payload, 'utf8') : null,
    ttl_s: b.ttl === undefined ? null : b.ttl === null ? TTL_NULL : b.ttl,
  }));
  for (const part of statementChunks(trx, rows)) {
    await trx
      .insertInto('batch_bsos')
      .values(part)
      .onConflict((oc) =>
        oc.columns(['user_id', 'collection_id', 'batch_id', 'bso_id']).doUpdateSet({
          sortindex: sql`coalesce(excluded.sortindex, batch_bsos.sortindex)`,
          payload: sql`coalesce(excluded.payload, batch_bsos.payload)`,
          payload_size: sql`coalesce(excluded.payload_size, batch_bsos.payload_size)`,
          ttl_s: sql`coalesce(excluded.ttl_s, batch_bsos.ttl_s)`,
        }),
      )
      .execute();
  }
  if (rows.length === 0) return;
  const totals = await trx
    .selectFrom('batch_bsos')
    .select((eb) => [
      eb.fn.countAll<number>().as('records'),
      eb.fn.coalesce(eb.fn.sum<number>('payload_size'), sql<number>`0`).as('bytes'),
    ])
    .where('user_id', '=', uid)
    .where('collection_id', '=', collectionId)
    .where('batch_id', '=', batchId)
    .executeTakeFirstOrThrow();
  if (Number(totals.records) > limits.maxTotalRecords || Number(totals.bytes) > limits.maxTotalBytes) {
    throw tooLarge('batch exceeds the total limits');
  }
}

/** The staged items of a batch, merged with the commit request's own (which win field by field). */
export async function stagedItems(trx: Db, uid: number, collectionId: number, batchId: string, commitItems: readonly BsoInput[]): Promise<BsoInput[]> {
  const rows = await trx
    .selectFrom('batch_bsos')
    .select(['bso_id', 'sortindex', 'payload', 'ttl_s'])
    .where('user_id', '=', uid)
    .where('collection_id', '=', collectionId)
    .where('batch_id', '=', batchId)
    .execute();
  const merged = new Map<string, BsoInput>();
  for (const r of rows) {
    const item: BsoInput = { id: r.bso_id };
    if (r.payload !== null) item.payload = r.payload;
    if (r.sortindex !== null) item.sortindex = r.sortindex;
    if (r.ttl_s !== null) item.ttl = r.ttl_s === TTL_NULL ? null : r.ttl_s;
    merged.set(r.bso_id, item);
  }
  for (const c of commitItems) {
    const earlier = merged.get(c.id);
    merged.set(c.id, earlier ? { ...earlier, ...definedFields(c) } : c);
  }
  return [...merged.values()];
}

function definedFields(b: BsoInput): BsoInput {
  return Object.fromEntries(Object.entries(b).filter(([, v]) => v !== undefined)) as unknown as BsoInput;
}

export async function deleteBatch(trx: Db, uid: number, collectionId: number, batchId: string): Promise<void> {
  await trx.deleteFrom('batch_bsos').where('user_id', '=', uid).where('collection_id', '=', collectionId).where('batch_id', '=', batchId).execute();
  await trx.deleteFrom('batches').where('user_id', '=', uid).where('collection_id', '=', collectionId).where('batch_id', '=', batchId).execute();
}

/** Remove every batch of a user (or of one collection). */
export async function deleteBatches(trx: Db, uid: number, collectionId?: number): Promise<void> {
  let staged = trx.deleteFrom('batch_bsos').where('user_id', '=', uid);
  let batches = trx.deleteFrom('batches').where('user_id', '=', uid);
  if (collectionId !== undefined) {
    staged = staged.where('collection_id', '=', collectionId);
    batches = batches.where('collection_id', '=', collectionId);
  }
  await staged.execute();
  await batches.execute();
}
