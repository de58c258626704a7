import { describe, expect, it } from 'vitest';
import { powerOfTwoPieces, slices } from '../../src/db/chunks.js';

describe('statement chunks', () => {
  it('splits into powers of two, largest first, keeping order (SQLite)', () => {
    const items = Array.from({ length: 100 }, (_, i) => i);
    const parts = powerOfTwoPieces(items, 128);
    expect(parts.map((p) => p.length)).toEqual([64, 32, 4]);
    expect(parts.flat()).toEqual(items);
    expect(powerOfTwoPieces(Array.from({ length: 300 }, (_, i) => i), 128).map((p) => p.length)).toEqual([128, 128, 32, 8, 4]);
    expect(powerOfTwoPieces([1], 128)).toEqual([[1]]);
    expect(powerOfTwoPieces([], 128)).toEqual([]);
  });

  it('cuts plain slices (PostgreSQL)', () => {
    expect(slices(Array.from({ length: 2500 }, (_, i) => i), 1000).map((p) => p.length)).toEqual([1000, 1000, 500]);
    expect(slices([], 1000)).toEqual([]);
  });
});
