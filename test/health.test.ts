import { describe, expect, it } from 'vitest';
import pg from 'pg';
import { ADMIN_URL } from './helpers/postgres.js';
import { startServer, testEngines } from './helpers/server.js';

// Dockerflow endpoints: no auth, no Sync headers; /__heartbeat__ reflects the database.

const engines = await testEngines();

describe.each(engines)('health (%s)', (engine) => {
  it('answers the Dockerflow endpoints without auth or Sync headers', async () => {
    const server = await startServer(engine);
    try {
      const hb = await fetch(`${server.url}/__heartbeat__`);
      expect(hb.status).toBe(200);
      expect(await hb.json()).toEqual({ status: 'Ok', database: 'Ok', version: expect.any(String) });
      expect(hb.headers.get('x-weave-timestamp')).toBeNull();
      expect((await fetch(`${server.url}/__lbheartbeat__`)).status).toBe(200);
      const v = await fetch(`${server.url}/__version__`);
      expect(await v.json()).toMatchObject({ version: expect.stringMatching(/^\d+\.\d+\.\d+/) });
      const pre = await fetch(`${server.url}/1.5/1/__heartbeat__`, { method: 'OPTIONS', headers: { origin: 'https://example.net', 'access-control-request-method': 'GET' } });
      expect([200, 204]).toContain(pre.status);
      expect(pre.headers.get('access-control-allow-origin')).toBe('https://example.net');
    } finally {
      await server.close();
    }
  });
});

// Only PostgreSQL can lose its database under a running server.
describe.runIf(engines.includes('postgres'))('health (postgres, database gone)', () => {
  it('answers 503 while the database is unreachable', async () => {
    const server = await startServer('postgres');
    try {
      expect((await fetch(`${server.url}/__heartbeat__`)).status).toBe(200);
      // Take the database away under the running server.
      const name = new URL((server.app.database.location)).pathname.slice(1);
      const admin = new pg.Client({ connectionString: ADMIN_URL });
      await admin.connect();
      await admin.query(`drop database ${name} with (force)`);
      await admin.end();
      const hb = await fetch(`${server.url}/__heartbeat__`);
      expect(hb.status).toBe(503);
      expect(await hb.json()).toMatchObject({ status: 'Err', database: 'Err' });
    } finally {
      await server.close();
    }
  });
});
