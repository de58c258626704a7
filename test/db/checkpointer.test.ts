import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { migrate, openDatabase } from '../../src/db/index.js';

// SQLite WAL checkpoints run in a worker thread, not in the commits that serve requests.

describe('SQLite WAL checkpointer', () => {
  it('copies committed pages into the database file in the background', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'foxden-ckpt-'));
    const database = await openDatabase({ dataDir });
    try {
      await migrate(database);
      const file = join(dataDir, 'foxden.sqlite');
      const before = statSync(file).size;
      const payload = 'x'.repeat(2000);
      for (let b = 0; b < 10; b++) {
        const rows = Array.from({ length: 100 }, (_, i) => ({
          user_id: 1,
          collection_id: 4,
          bso_id: `r${b}-${i}`,
          sortindex: null,
          payload,
          payload_size: payload.length,
          modified_ms: 1000 + b,
          expiry_ms: 9e12,
        }));
        await database.db.insertInto('bsos').values(rows).execute();
      }
      // Nothing reached the database file yet: the request connection does not checkpoint.
      expect(statSync(join(dataDir, 'foxden.sqlite-wal')).size).toBeGreaterThan(2_000_000);
      const deadline = Date.now() + 10_000;
      let report = database.checkpointer?.last();
      while (!(report && report.checkpointed! > 0 && report.checkpointed === report.log) && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 100));
        report = database.checkpointer?.last();
      }
      expect(report?.error).toBeUndefined();
      expect(report?.checkpointed).toBeGreaterThan(0);
      expect(report?.checkpointed).toBe(report?.log);
      expect(statSync(file).size).toBeGreaterThan(before + 2_000_000);
    } finally {
      await database.close();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
