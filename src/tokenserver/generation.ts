// MAX_GENERATION marks a retired user (sync-storage.md 1.7): 2^63 - 1, the largest BIGINT.
//
// Generations and keys_changed_at values are millisecond timestamps, so JavaScript numbers
// hold them exactly, except this one marker. Both engines store it exactly as the BIGINT
// 9223372036854775807 (written as a bigint parameter, which better-sqlite3 binds as an
// INTEGER and pg sends as its decimal text). Read back, both drivers give the nearest double,
// 2^63, and so does JSON.parse of "9223372036854775807" in a verifier's answer. So in code a
// value >= 2^63 (as a double) means MAX_GENERATION, and it goes back to the database through
// sqlInt(), which turns it into the exact bigint again.

export const MAX_GENERATION = 2n ** 63n - 1n;
/** MAX_GENERATION as JavaScript reads it back: 2^63. */
export const MAX_GENERATION_NUMBER = Number(MAX_GENERATION);

export function isMaxGeneration(value: number): boolean {
  return value >= MAX_GENERATION_NUMBER;
}

/**
 * A generation or keys_changed_at as a query parameter. Kysely's column types say number; the
 * one value a double cannot carry is passed as the exact bigint, which both drivers bind.
 */
export function sqlInt(value: number): number {
  if (value >= MAX_GENERATION_NUMBER) return MAX_GENERATION as unknown as number;
  return Number.isSafeInteger(value) ? value : (BigInt(Math.trunc(value)) as unknown as number);
}

export function sqlIntOrNull(value: number | null | undefined): number | null {
  return value === null || value === undefined ? null : sqlInt(value);
}
