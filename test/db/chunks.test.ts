import { describe, expect, it } from 'vitest';
import { statementChunks } from '../../src/db/chunks.js';

describe('statementChunks', () => {
  it('splits into powers of two, largest first, keeping order', () => {
    const items = Array.from({ length: 100 }, (_, i) => i);
    const parts = statementChunks(items);
    expect(parts.map((p) => p.length)).toEqual([64, 32, 4]);
    expect(parts.flat()).toEqual(items);
    expect(statementChunks(Array.from({ length: 300 }, (_, i) => i)).map((p) => p.length)).toEqual([128, 128, 32, 8, 4]);
    expect(statementChunks([1])).toEqual([[1]]);
    expect(statementChunks([])).toEqual([]);
  });
});
