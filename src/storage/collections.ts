import type { Db } from '../db/index.js';

/**
 * Collection names map to small integer ids. A mapping never changes once made, so it is
 * cached for the life of the process; names are created in their own committed statement
 * (never inside a request's transaction, which could roll back and leave the cache wrong).
 */
export class CollectionIds {
  private readonly byName = new Map<string, number>();
  private readonly byId = new Map<number, string>();

  private remember(id: number, name: string): number {
    this.byName.set(name, id);
    this.byId.set(id, name);
    return id;
  }

  async lookup(db: Db, name: string): Promise<number | undefined> {
    const cached = this.byName.get(name);
    if (cached !== undefined) return cached;
    const row = await db.selectFrom('collections').select('collection_id').where('name', '=', name).executeTakeFirst();
    return row ? this.remember(row.collection_id, name) : undefined;
  }

  async ensure(db: Db, name: string): Promise<number> {
    const known = await this.lookup(db, name);
    if (known !== undefined) return known;
    await db
      .insertInto('collections')
      .values({ name })
      .onConflict((oc) => oc.column('name').doNothing())
      .execute();
    const id = await this.lookup(db, name);
    if (id === undefined) throw new Error(`collection ${name} vanished after insert`);
    return id;
  }

  async names(db: Db, ids: readonly number[]): Promise<Map<number, string>> {
    const missing = ids.filter((id) => !this.byId.has(id));
    if (missing.length > 0) {
      const rows = await db.selectFrom('collections').select(['collection_id', 'name']).where('collection_id', 'in', missing).execute();
      for (const r of rows) this.remember(r.collection_id, r.name);
    }
    return new Map(ids.filter((id) => this.byId.has(id)).map((id) => [id, this.byId.get(id)!]));
  }
}
