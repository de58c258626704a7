/**
 * Split a list for multi-row statements into pieces whose sizes are powers of two (at most
 * `max`): 100 rows become 64 + 32 + 4. Statements then come in a handful of shapes, so the
 * prepared-statement cache stays small and nearly always hits, and no statement exceeds the
 * engines' parameter limits.
 */
export function statementChunks<T>(items: readonly T[], max = 128): T[][] {
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
