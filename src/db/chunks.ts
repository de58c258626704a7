import type { Db } from './index.js';
import { PostgresAdapter } from './kysely.js';

/**
 * Split a list for multi-row statements. On SQLite the pieces have power-of-two sizes (at most
 * 128): 100 rows become 64 + 32 + 4, so statements come in a handful of shapes and the
 * prepared-statement cache stays small and nearly always hits. On PostgreSQL, where each
 * statement is a network round trip and nothing is prepared, pieces are as large as the
 * parameter limit comfortably allows.
 */
export function statementChunks<T>(db: Db, items: readonly T[]): T[][] {
  return db.getExecutor().adapter instanceof PostgresAdapter ? slices(items, 1000) : powerOfTwoPieces(items, 128);
}

export function slices<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

export function powerOfTwoPieces<T>(items: readonly T[], max: number): T[][] {
  const out: T[][] = [];
  let i = 0;
  while (i < items.length) {
    let size = max;
    while (size > items.length - i) size >>= 1;
    out.push(items.slice(i, i + size));
    i += size;
  }
  return out;
}
