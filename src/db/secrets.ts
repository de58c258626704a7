import { randomBytes } from 'node:crypto';
import type { Db } from './index.js';

/**
 * Return the secret called `name`, generating and storing it on first use. Two processes
 * racing here agree on one value: the insert ignores conflicts and both read back the winner.
 */
export async function ensureSecret(db: Db, name: string, generate: () => string = () => randomBytes(32).toString('base64url')): Promise<string> {
  const existing = await db.selectFrom('foxden_secrets').select('value').where('name', '=', name).executeTakeFirst();
  if (existing) return existing.value;
  await db
    .insertInto('foxden_secrets')
    .values({ name, value: generate(), created_at: Date.now() })
    .onConflict((oc) => oc.column('name').doNothing())
    .execute();
  const row = await db.selectFrom('foxden_secrets').select('value').where('name', '=', name).executeTakeFirstOrThrow();
  return row.value;
}
