import { createHash, randomInt, timingSafeEqual } from 'node:crypto';
import type { Db } from '../db/index.js';

// One-time codes mailed to the user (fxa-auth.md 12): random, stored only as a hash, with an
// expiry and an attempt cap, checked in constant time.

export type CodeKind = 'signup' | 'login' | 'unblock' | 'reset';

/** Wrong guesses allowed before a code is void. */
export const MAX_CODE_ATTEMPTS = 5;

export const CODE_LIFETIME_MS: Record<CodeKind, number> = {
  signup: 30 * 60 * 1000,
  login: 30 * 60 * 1000,
  unblock: 60 * 60 * 1000,
  reset: 10 * 60 * 1000,
};

const ALPHANUMERIC = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';

export function numericCode(digits: number): string {
  let s = '';
  for (let i = 0; i < digits; i++) s += String(randomInt(10));
  return s;
}

export function alphanumericCode(length: number): string {
  let s = '';
  for (let i = 0; i < length; i++) s += ALPHANUMERIC[randomInt(ALPHANUMERIC.length)];
  return s;
}

export function hashCode(code: string): string {
  return createHash('sha256').update(code.toUpperCase()).digest('hex');
}

function sameHash(a: string, b: string): boolean {
  return a.length === b.length && timingSafeEqual(Buffer.from(a), Buffer.from(b));
}

/** Store a fresh code for (uid, kind, target), replacing any earlier one. */
export async function storeCode(db: Db, uid: string, kind: CodeKind, target: string, code: string, now = Date.now()): Promise<void> {
  const row = { uid, kind, target, code_hash: hashCode(code), expires_at: now + CODE_LIFETIME_MS[kind], attempts: 0 };
  await db
    .insertInto('codes')
    .values(row)
    .onConflict((oc) => oc.columns(['uid', 'kind', 'target']).doUpdateSet({ code_hash: row.code_hash, expires_at: row.expires_at, attempts: 0 }))
    .execute();
}

/**
 * Check a code. A match deletes it (single use); a miss counts an attempt and voids the code
 * at the cap. Expired and unknown codes never match.
 */
export async function consumeCode(db: Db, uid: string, kind: CodeKind, target: string, code: string, now = Date.now()): Promise<boolean> {
  const key = { uid, kind, target };
  const row = await db.selectFrom('codes').selectAll().where((eb) => eb.and(key)).executeTakeFirst();
  if (!row) return false;
  const remove = () => db.deleteFrom('codes').where((eb) => eb.and(key)).execute();
  if (Number(row.expires_at) <= now || row.attempts >= MAX_CODE_ATTEMPTS) {
    await remove();
    return false;
  }
  if (sameHash(row.code_hash, hashCode(code))) {
    await remove();
    return true;
  }
  if (row.attempts + 1 >= MAX_CODE_ATTEMPTS) await remove();
  else await db.updateTable('codes').set({ attempts: row.attempts + 1 }).where((eb) => eb.and(key)).execute();
  return false;
}

/** Find which pending code of `uid` among `kinds` matches (for link codes that name no session). */
export async function findCodeTarget(db: Db, uid: string, kinds: CodeKind[], code: string, now = Date.now()): Promise<{ kind: CodeKind; target: string } | undefined> {
  const rows = await db.selectFrom('codes').selectAll().where('uid', '=', uid).where('kind', 'in', kinds).execute();
  const hash = hashCode(code);
  for (const row of rows) {
    if (Number(row.expires_at) > now && row.attempts < MAX_CODE_ATTEMPTS && sameHash(row.code_hash, hash)) {
      return { kind: row.kind as CodeKind, target: row.target };
    }
  }
  return undefined;
}
