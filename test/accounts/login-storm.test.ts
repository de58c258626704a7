import { describe, expect, it } from 'vitest';
import { FxaClient, TestUser } from '../helpers/fxa.js';
import { latestCode } from '../helpers/outbox.js';
import { StorageClient } from '../helpers/client.js';
import { useServer } from '../helpers/server.js';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

// A storm of sign-ins: scrypt runs on the thread pool behind a bounded queue, so the excess is
// refused at once with 503 errno 201 and Retry-After, and other requests keep being answered.

describe('a sign-in storm', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'foxden-storm-'));
  const server = useServer('sqlite', {
    FOXDEN_DATA_DIR: dataDir,
    FOXDEN_REGISTRATION: 'open',
    FOXDEN_RATE_LIMITS: 'off',
    FOXDEN_SIGNIN_CONFIRMATION: 'never',
    FOXDEN_SCRYPT_CONCURRENCY: 1,
  });

  it('sheds what the queue cannot take with 503 errno 201, and storage stays responsive', async () => {
    const client = new FxaClient(server.url);
    const user = new TestUser(client, 'storm@example.com', 'a password for the storm');
    expect((await user.create()).status).toBe(200);
    expect((await user.verify(await latestCode(dataDir, 'verifyShortCode'))).status).toBe(200);

    const storage = new StorageClient(server, 7);
    const storageTimes: number[] = [];
    let storming = true;
    const probe = (async () => {
      while (storming) {
        const t = performance.now();
        const r = await storage.request('GET', '/info/collections');
        expect(r.status).toBe(200);
        storageTimes.push(performance.now() - t);
        await new Promise((res) => setTimeout(res, 20));
      }
    })();

    const attempts = await Promise.all(
      Array.from({ length: 40 }, () => client.call('POST', '/account/login', { email: user.email, authPW: user.authPW })),
    );
    storming = false;
    await probe;

    const ok = attempts.filter((r) => r.status === 200);
    const busy = attempts.filter((r) => r.status === 503);
    expect(ok.length + busy.length).toBe(attempts.length);
    expect(ok.length).toBeGreaterThan(0);
    expect(busy.length).toBeGreaterThan(0);
    for (const r of busy) {
      expect(r.body).toMatchObject({ code: 503, errno: 201, error: 'Service Unavailable' });
      expect(Number(r.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      expect(r.body.retryAfter).toBe(Number(r.headers.get('retry-after')));
    }
    // The event loop never waited on scrypt: storage answered throughout.
    expect(storageTimes.length).toBeGreaterThan(5);
    storageTimes.sort((a, b) => a - b);
    expect(storageTimes[Math.floor(storageTimes.length * 0.9)]!).toBeLessThan(250);
  });
});
