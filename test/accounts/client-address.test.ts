import { describe, expect, it } from 'vitest';
import type { RawConfig } from '../../src/config.js';
import { FxaClient } from '../helpers/fxa.js';
import { useServer } from '../helpers/server.js';

// Rate limits count per client address. X-Forwarded-For is believed only from the proxies in
// FOXDEN_TRUSTED_PROXIES; FOXDEN_RATE_LIMITS=off turns the limits off.

const STATUS_CHECKS_PER_WINDOW = 100;

async function checksUntilRefused(client: FxaClient, forwardedFor: string | undefined, max: number): Promise<number> {
  const headers: Record<string, string> = forwardedFor ? { 'x-forwarded-for': forwardedFor } : {};
  for (let i = 1; i <= max; i++) {
    const res = await client.call('POST', '/account/status', { email: `probe${i}@example.com` }, { headers });
    if (res.status === 429) {
      expect(res.body).toMatchObject({ errno: 114 });
      return i;
    }
    expect(res.status).toBe(200);
  }
  return 0;
}

function server(overrides: RawConfig) {
  return useServer('sqlite', { FOXDEN_REGISTRATION: 'open', ...overrides });
}

describe('behind a trusted proxy', () => {
  const s = server({ FOXDEN_TRUSTED_PROXIES: '127.0.0.1' });
  it('counts each forwarded client address on its own', async () => {
    const client = new FxaClient(s.url);
    expect(await checksUntilRefused(client, '203.0.113.7', STATUS_CHECKS_PER_WINDOW + 5)).toBe(STATUS_CHECKS_PER_WINDOW + 1);
    // Another client behind the same proxy is not affected.
    expect(await checksUntilRefused(client, '203.0.113.8', 3)).toBe(0);
  });
});

describe('without trusted proxies', () => {
  const s = server({});
  it('ignores X-Forwarded-For, so a client cannot dodge its limit by inventing addresses', async () => {
    const client = new FxaClient(s.url);
    let refusedAt = 0;
    for (let i = 1; i <= STATUS_CHECKS_PER_WINDOW + 5 && refusedAt === 0; i++) {
      const res = await client.call('POST', '/account/status', { email: 'a@example.com' }, { headers: { 'x-forwarded-for': `198.51.100.${i}` } });
      if (res.status === 429) refusedAt = i;
    }
    expect(refusedAt).toBe(STATUS_CHECKS_PER_WINDOW + 1);
  });
});

describe('with FOXDEN_RATE_LIMITS=off', () => {
  const s = server({ FOXDEN_RATE_LIMITS: 'off' });
  it('never refuses', async () => {
    expect(await checksUntilRefused(new FxaClient(s.url), undefined, STATUS_CHECKS_PER_WINDOW + 20)).toBe(0);
  });
});
