import { sql } from '../db/kysely.js';
import type { StorageLimits } from '../config.js';
import { readTransaction, writeTransaction, type Database, type Db } from '../db/index.js';
import { createBatch, deleteBatch, deleteBatches, requireBatch, stageItems, stagedItems } from './batches.js';
import type { BsoInput, BsoRecord } from './bso.js';
import { CollectionIds } from './collections.js';
import { NotModified, PreconditionFailed, notFound, unauthorized } from './errors.js';
import { KeyedMutex } from './lock.js';
import { applyRecords, collectionTimeQuery, deleteRecords, loadExisting, touchCollection, usedBytes } from './records.js';
import { nowTicks } from './timestamps.js';

// The storage service: every Sync 1.5 operation as a function of (user, request data).
// Each runs in one transaction; writes hold the user's lock and stamp what they change with
// one time T = max(now, storage timestamp + 10 ms), so a user's timestamps strictly increase
// and concurrent writers never conflict (sync-storage.md 3.4).

export interface Preconditions {
  ifModifiedSince?: number;
  ifUnmodifiedSince?: number;
}

export type Sort = 'newest' | 'oldest' | 'index';

export interface CollectionQuery {
  ids?: string[];
  newer?: number;
  older?: number;
  full: boolean;
  limit?: number;
  offset?: Offset;
  sort?: Sort;
}

/** Paging position: a plain count to skip, or the (modified, id) of the last item returned. */
export type Offset = { skip: number } | { modified: number; id: string };

export interface CollectionPage {
  lastModified: number;
  items: BsoRecord[];
  next?: Offset;
}

export interface PostResult {
  /** Timestamp for X-Last-Modified: T for applied writes, the unchanged collection time for staging. */
  lastModified: number;
  modified?: number;
  batch?: string;
  success: string[];
  failed: Record<string, string>;
}

export type BatchMode =
  | { kind: 'none' }
  | { kind: 'start' }
  | { kind: 'append'; id: string }
  | { kind: 'commit'; id: string };

function checkPreconditions(p: Preconditions, target: number): void {
  if (p.ifModifiedSince !== undefined && target <= p.ifModifiedSince) throw new NotModified(target);
  if (p.ifUnmodifiedSince !== undefined && target > p.ifUnmodifiedSince) throw new PreconditionFailed(target);
}

function storageTimeQuery(db: Db, uid: number) {
  return db.selectFrom('user_storage').select('storage_modified_ms').where('user_id', '=', uid);
}

async function storageModified(trx: Db, uid: number): Promise<number> {
  const row = await storageTimeQuery(trx, uid).executeTakeFirst();
  return row?.storage_modified_ms ?? 0;
}

async function collectionModified(trx: Db, uid: number, collectionId: number | undefined): Promise<number | undefined> {
  if (collectionId === undefined) return undefined;
  const row = await collectionTimeQuery(trx, uid, collectionId).executeTakeFirst();
  return row?.modified_ms;
}

/** Every record, batch and collection count of a user (its storage timestamp stays). */
async function deleteUserData(trx: Db, uid: number): Promise<void> {
  await trx.deleteFrom('bsos').where('user_id', '=', uid).execute();
  await deleteBatches(trx, uid);
  await trx.deleteFrom('user_collections').where('user_id', '=', uid).execute();
}

/** The storage and (optionally) collection timestamps, and whether the uid is retired, in one round trip. */
async function currentTimes(trx: Db, uid: number, collectionId: number | undefined): Promise<{ storage: number; collection: number | undefined; retired: boolean }> {
  const row = await trx
    .selectNoFrom(() => [
      storageTimeQuery(trx, uid).as('storage'),
      // No collection (storage-wide writes): ask for one that cannot exist, so the shape stays one.
      collectionTimeQuery(trx, uid, collectionId ?? -1).as('collection'),
      trx.selectFrom('user_storage').select('retired_at').where('user_id', '=', uid).as('retired'),
    ])
    .executeTakeFirstOrThrow();
  return { storage: row.storage ?? 0, collection: row.collection ?? undefined, retired: row.retired !== null && row.retired !== undefined };
}

/** What a write sees when it starts, under the user's lock. */
interface WriteContext {
  /** This write's time: after now and strictly after the user's previous write. */
  t: number;
  now: number;
  storageTs: number;
  /** The collection's timestamp, undefined when the user has no such collection. */
  collectionTs: number | undefined;
}

export class StorageService {
  readonly collections = new CollectionIds();
  private readonly locks = new KeyedMutex();

  constructor(
    readonly database: Database,
    readonly limits: StorageLimits,
  ) {}

  private get db(): Db {
    return this.database.db;
  }

  /** Run a write under the user's lock; `touched` results move the storage timestamp to T. */
  private write<R>(uid: number, collectionId: number | undefined, fn: (trx: Db, w: WriteContext) => Promise<{ result: R; touched: boolean }>): Promise<R> {
    return this.locks.run(uid, () =>
      writeTransaction(this.database, uid, async (trx) => {
        const times = await currentTimes(trx, uid, collectionId);
        // The tokenserver moved this uid's owner to a new one (new keys, or the account is gone).
        if (times.retired) throw unauthorized('storage user retired by the tokenserver');
        const now = nowTicks();
        const t = Math.max(now, times.storage + 10);
        const { result, touched } = await fn(trx, { t, now, storageTs: times.storage, collectionTs: times.collection });
        if (touched) {
          await trx
            .insertInto('user_storage')
            .values({ user_id: uid, storage_modified_ms: t })
            .onConflict((oc) => oc.column('user_id').doUpdateSet({ storage_modified_ms: t }))
            .execute();
        }
        return result;
      }),
    );
  }

  private read<R>(fn: (trx: Db) => Promise<R>): Promise<R> {
    return readTransaction(this.database, fn);
  }

  // ---- info ----

  async infoCollections(uid: number, pre: Preconditions): Promise<{ lastModified: number; collections: [string, number][] }> {
    return this.read(async (trx) => {
      const lastModified = await storageModified(trx, uid);
      checkPreconditions(pre, lastModified);
      const rows = await trx.selectFrom('user_collections').select(['collection_id', 'modified_ms']).where('user_id', '=', uid).execute();
      const names = await this.collections.names(trx, rows.map((r) => r.collection_id));
      const collections = rows.flatMap((r): [string, number][] => {
        const name = names.get(r.collection_id);
        return name === undefined ? [] : [[name, r.modified_ms]];
      });
      return { lastModified, collections };
    });
  }

  /** Live record counts and payload bytes per collection (collections without live records are left out). */
  async infoUsage(uid: number, pre: Preconditions): Promise<{ lastModified: number; collections: { name: string; count: number; bytes: number }[] }> {
    return this.read(async (trx) => {
      const lastModified = await storageModified(trx, uid);
      checkPreconditions(pre, lastModified);
      const rows = await trx
        .selectFrom('bsos')
        .select((eb) => ['collection_id', eb.fn.countAll<number>().as('count'), eb.fn.sum<number>('payload_size').as('bytes')])
        .where('user_id', '=', uid)
        .where('expiry_ms', '>', Date.now())
        .groupBy('collection_id')
        .execute();
      const names = await this.collections.names(trx, rows.map((r) => r.collection_id));
      const collections = rows.flatMap((r) => {
        const name = names.get(r.collection_id);
        return name === undefined ? [] : [{ name, count: Number(r.count), bytes: Number(r.bytes) }];
      });
      return { lastModified, collections };
    });
  }

  /** Payload bytes counted against the quota (expired records included until purged). */
  usedBytes(uid: number): Promise<number> {
    return usedBytes(this.db, uid);
  }

  // ---- reads ----

  async getCollection(uid: number, name: string, q: CollectionQuery, pre: Preconditions): Promise<CollectionPage> {
    const collectionId = await this.collections.lookup(this.db, name);
    const cap = this.limits.maxTotalRecords;
    const limit = Math.min(q.limit ?? cap, cap);
    // An ids filter that names nothing (?ids= or ?ids=,,) matches nothing, and so does limit=0.
    if (collectionId === undefined || q.ids?.length === 0 || limit === 0) {
      const lastModified = (await collectionModified(this.db, uid, collectionId)) ?? 0;
      checkPreconditions(pre, lastModified);
      return { lastModified, items: [] };
    }
    // Usually one statement returns the records and the collection's timestamp together, from
    // one snapshot; when nothing matches, both are read again inside one read transaction.
    const rows = await this.records(this.db, uid, collectionId, q, limit);
    if (rows.length > 0) {
      const lastModified = rows[0]!.collection_modified ?? 0;
      checkPreconditions(pre, lastModified);
      return this.page(rows, lastModified, q, limit);
    }
    return this.read(async (trx) => {
      const lastModified = (await collectionModified(trx, uid, collectionId)) ?? 0;
      checkPreconditions(pre, lastModified);
      if (lastModified === 0) return { lastModified, items: [] };
      return this.page(await this.records(trx, uid, collectionId, q, limit), lastModified, q, limit);
    });
  }

  /** The records a collection GET asks for (one more than the limit, to know whether more follow). */
  private records(trx: Db, uid: number, collectionId: number, q: CollectionQuery, limit: number) {
    const sort = q.sort ?? 'newest';
    let query = trx
      .selectFrom('bsos')
      .where('user_id', '=', uid)
      .where('collection_id', '=', collectionId)
      .where('expiry_ms', '>', Date.now());
    if (q.ids) query = query.where('bso_id', 'in', q.ids);
    if (q.newer !== undefined) query = query.where('modified_ms', '>', q.newer);
    if (q.older !== undefined) query = query.where('modified_ms', '<', q.older);
    if (q.offset && 'modified' in q.offset) {
      const { modified, id } = q.offset;
      const op = sort === 'oldest' ? '>' : '<';
      query = query.where((eb) => eb.or([eb('modified_ms', op, modified), eb.and([eb('modified_ms', '=', modified), eb('bso_id', op, id)])]));
    }
    if (sort === 'index') {
      query = query.orderBy(sql`sortindex desc nulls last`).orderBy('bso_id', 'desc');
    } else {
      const dir = sort === 'oldest' ? 'asc' : 'desc';
      query = query.orderBy('modified_ms', dir).orderBy('bso_id', dir);
    }
    return query
      .select([
        'bso_id',
        'modified_ms',
        'sortindex',
        q.full ? 'payload' : sql<string>`''`.as('payload'),
        collectionTimeQuery(trx, uid, collectionId).as('collection_modified'),
      ])
      .limit(limit + 1)
      .offset(q.offset && 'skip' in q.offset ? q.offset.skip : 0)
      .execute();
  }

  private page(rows: { bso_id: string; modified_ms: number; sortindex: number | null; payload: string }[], lastModified: number, q: CollectionQuery, limit: number): CollectionPage {
    let next: Offset | undefined;
    if (rows.length > limit) {
      rows.length = limit;
      const last = rows[limit - 1]!;
      const skip = q.offset && 'skip' in q.offset ? q.offset.skip : undefined;
      next = q.sort === 'index' || skip !== undefined ? { skip: (skip ?? 0) + limit } : { modified: last.modified_ms, id: last.bso_id };
    }
    const items = rows.map((r) => ({ id: r.bso_id, modified: r.modified_ms, sortindex: r.sortindex, payload: r.payload }));
    return { lastModified, items, next };
  }

  async getRecord(uid: number, name: string, id: string, pre: Preconditions): Promise<BsoRecord> {
    const collectionId = await this.collections.lookup(this.db, name);
    return this.read(async (trx) => {
      const row =
        collectionId === undefined
          ? undefined
          : await trx
              .selectFrom('bsos')
              .select(['bso_id', 'modified_ms', 'payload', 'sortindex'])
              .where('user_id', '=', uid)
              .where('collection_id', '=', collectionId)
              .where('bso_id', '=', id)
              .where('expiry_ms', '>', Date.now())
              .executeTakeFirst();
      checkPreconditions(pre, row?.modified_ms ?? 0);
      if (!row) throw notFound('record not found');
      return { id: row.bso_id, modified: row.modified_ms, payload: row.payload, sortindex: row.sortindex };
    });
  }

  // ---- writes ----

  /** PUT one record; returns T. The precondition target is the record's own timestamp. */
  async putRecord(uid: number, name: string, item: BsoInput, pre: Preconditions): Promise<number> {
    const collectionId = await this.collections.ensure(this.db, name);
    return this.write(uid, collectionId, async (trx, { t, now }) => {
      const existing = await loadExisting(trx, uid, collectionId, [item.id]);
      const old = existing.get(item.id);
      checkPreconditions(pre, old && old.expiry_ms > now ? old.modified_ms : 0);
      await applyRecords(trx, uid, collectionId, [item], t, now, this.limits.quotaBytes, existing);
      return { result: t, touched: true };
    });
  }

  /** POST records, in or out of a batch. `items` are valid; `failed` already holds the rejects. */
  async postRecords(uid: number, name: string, items: BsoInput[], failed: Record<string, string>, mode: BatchMode, pre: Preconditions): Promise<PostResult> {
    const collectionId = await this.collections.ensure(this.db, name);
    const success = items.map((i) => i.id);
    return this.write<PostResult>(uid, collectionId, async (trx, { t, now, collectionTs }) => {
      const current = collectionTs ?? 0;
      checkPreconditions(pre, current);
      switch (mode.kind) {
        case 'none':
          await applyRecords(trx, uid, collectionId, items, t, now, this.limits.quotaBytes);
          return { result: { lastModified: t, modified: t, success, failed }, touched: true };
        case 'start':
        case 'append': {
          const batch = mode.kind === 'start' ? await createBatch(trx, uid, collectionId, now) : mode.id;
          if (mode.kind === 'append') await requireBatch(trx, uid, collectionId, batch, now);
          await stageItems(trx, uid, collectionId, batch, items, this.limits);
          return { result: { lastModified: current, batch, success, failed }, touched: false };
        }
        case 'commit': {
          await requireBatch(trx, uid, collectionId, mode.id, now);
          const all = await stagedItems(trx, uid, collectionId, mode.id, items);
          await applyRecords(trx, uid, collectionId, all, t, now, this.limits.quotaBytes);
          await deleteBatch(trx, uid, collectionId, mode.id);
          return { result: { lastModified: t, modified: t, success, failed }, touched: true };
        }
      }
    });
  }

  /** DELETE a whole collection. Returns the new storage time (or the current one if there was nothing). */
  async deleteCollection(uid: number, name: string, pre: Preconditions): Promise<number> {
    const collectionId = await this.collections.lookup(this.db, name);
    return this.write(uid, collectionId, async (trx, { t, storageTs, collectionTs: current }) => {
      checkPreconditions(pre, current ?? 0);
      if (collectionId === undefined || current === undefined) return { result: storageTs, touched: false };
      await trx.deleteFrom('bsos').where('user_id', '=', uid).where('collection_id', '=', collectionId).execute();
      await deleteBatches(trx, uid, collectionId);
      await trx.deleteFrom('user_collections').where('user_id', '=', uid).where('collection_id', '=', collectionId).execute();
      return { result: t, touched: true };
    });
  }

  /** DELETE some records of a collection by id; the collection stays and is stamped T. */
  async deleteRecords(uid: number, name: string, ids: string[], pre: Preconditions): Promise<number> {
    const collectionId = await this.collections.lookup(this.db, name);
    return this.write(uid, collectionId, async (trx, { t, storageTs, collectionTs: current }) => {
      checkPreconditions(pre, current ?? 0);
      if (collectionId === undefined || current === undefined) return { result: storageTs, touched: false };
      const bytes = await deleteRecords(trx, uid, collectionId, ids);
      await touchCollection(trx, uid, collectionId, t, -bytes);
      return { result: t, touched: true };
    });
  }

  /** DELETE one record; 404 when it is absent or expired. */
  async deleteRecord(uid: number, name: string, id: string, pre: Preconditions): Promise<number> {
    const collectionId = await this.collections.lookup(this.db, name);
    return this.write(uid, collectionId, async (trx, { t, now }) => {
      const old = collectionId === undefined ? undefined : (await loadExisting(trx, uid, collectionId, [id])).get(id);
      const live = old !== undefined && old.expiry_ms > now;
      checkPreconditions(pre, live ? old.modified_ms : 0);
      if (!live || collectionId === undefined) throw notFound('record not found');
      const bytes = await deleteRecords(trx, uid, collectionId, [id]);
      await touchCollection(trx, uid, collectionId, t, -bytes);
      return { result: t, touched: true };
    });
  }

  /** DELETE everything the user stored. The storage timestamp moves to T, never backwards. */
  async deleteStorage(uid: number, pre: Preconditions): Promise<number> {
    return this.write(uid, undefined, async (trx, { t, storageTs }) => {
      checkPreconditions(pre, storageTs);
      await deleteUserData(trx, uid);
      return { result: t, touched: true };
    });
  }

  // ---- housekeeping ----

  /**
   * The tokenserver replaced or retired this uid: delete everything it stored and refuse its
   * writes from now on (401, so a client fetches a new token). Reads find nothing.
   */
  async retireUser(uid: number): Promise<void> {
    const now = Date.now();
    await this.locks.run(uid, () =>
      writeTransaction(this.database, uid, async (trx) => {
        await deleteUserData(trx, uid);
        await trx
          .insertInto('user_storage')
          .values({ user_id: uid, storage_modified_ms: 0, retired_at: now })
          .onConflict((oc) => oc.column('user_id').doUpdateSet({ retired_at: now }))
          .execute();
      }),
    );
  }

  /**
   * Delete expired records and batches, a bounded slice at a time, keeping the byte counts
   * right. Returns how many records went.
   */
  async purgeExpired(maxGroups = 1000): Promise<number> {
    const now = Date.now();
    const groups = await this.db
      .selectFrom('bsos')
      .select(['user_id', 'collection_id'])
      .where('expiry_ms', '<=', now)
      .groupBy(['user_id', 'collection_id'])
      .limit(maxGroups)
      .execute();
    let purged = 0;
    for (const g of groups) {
      purged += await this.locks.run(g.user_id, () =>
        writeTransaction(this.database, g.user_id, async (trx) => {
          const gone = await trx
            .deleteFrom('bsos')
            .where('user_id', '=', g.user_id)
            .where('collection_id', '=', g.collection_id)
            .where('expiry_ms', '<=', now)
            .returning('payload_size')
            .execute();
          const bytes = gone.reduce((sum, r) => sum + r.payload_size, 0);
          await trx
            .updateTable('user_collections')
            .set({ total_bytes: sql<number>`total_bytes - ${bytes}` })
            .where('user_id', '=', g.user_id)
            .where('collection_id', '=', g.collection_id)
            .execute();
          return gone.length;
        }),
      );
    }
    const expiredBatches = await this.db.selectFrom('batches').select(['user_id', 'collection_id', 'batch_id']).where('expiry_ms', '<=', now).limit(maxGroups).execute();
    for (const b of expiredBatches) {
      await this.locks.run(b.user_id, () => writeTransaction(this.database, b.user_id, (trx) => deleteBatch(trx, b.user_id, b.collection_id, b.batch_id)));
    }
    return purged;
  }
}
