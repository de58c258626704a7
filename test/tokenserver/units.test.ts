import { describe, expect, it } from 'vitest';
import { bearerCredential } from '../../src/tokenserver/authorization.js';
import { TokenserverError } from '../../src/tokenserver/errors.js';
import { isMaxGeneration, MAX_GENERATION, MAX_GENERATION_NUMBER, sqlInt } from '../../src/tokenserver/generation.js';
import { parseKeyId } from '../../src/tokenserver/keyid.js';
import { NODE_SYNC_LOCK_KEY, userLockKey } from '../../src/tokenserver/locks.js';
import { hashedDeviceId, hashedFxaUid } from '../../src/tokenserver/metrics.js';
import { splitScope } from '../../src/tokenserver/verifier.js';
import { accountLockKey } from '../../src/accounts/context.js';

// Pieces of the tokenserver that need no server: the spec's vectors and the parsers.

function refusal(fn: () => unknown): { status: number; body: unknown } {
  try {
    fn();
  } catch (err) {
    if (err instanceof TokenserverError) return { status: err.httpStatus, body: err.body() };
    throw err;
  }
  throw new Error('expected a refusal');
}

describe('tokenserver pieces', () => {
  it('hashed_fxa_uid and hashed_device_id: the vector of sync-storage.md 1.14', () => {
    const uid = hashedFxaUid('secret0', '0123456789abcdef0123456789abcdef');
    expect(uid).toBe('dbf9e62f4ed48c193921dd518f0459f3');
    expect(hashedDeviceId('secret0', uid)).toBe('cfa8d478d2144fb4de7cc770f8a17334');
  });

  it('X-KeyID: the worked example of 1.4, and 0 as absent', () => {
    expect(parseKeyId('1234-qqo', undefined)).toEqual({ clientState: 'aaaa', keysChangedAt: 1234 });
    expect(parseKeyId('0000000001234-qqo', 'aaaa')).toEqual({ clientState: 'aaaa', keysChangedAt: 1234 });
    expect(parseKeyId('0-u7s', undefined)).toEqual({ clientState: 'bbbb', keysChangedAt: undefined });
    expect(parseKeyId('+5-', undefined)).toEqual({ clientState: '', keysChangedAt: 5 });
  });

  it('X-KeyID: the order of checks (fingerprint, then X-Client-State, then timestamp)', () => {
    // A bad fingerprint wins over a malformed X-Client-State...
    expect(refusal(() => parseKeyId('x-!!', 'bad value!')).status).toBe(401);
    // ...which wins over a bad timestamp.
    expect(refusal(() => parseKeyId('x-qqo', 'bad value!')).status).toBe(400);
    expect(refusal(() => parseKeyId('x-qqo', 'bbbb')).body).toMatchObject({ status: 'invalid-client-state' });
    expect(refusal(() => parseKeyId('x-qqo', 'aaaa')).body).toMatchObject({ status: 'invalid-credentials' });
  });

  it('Authorization: scheme and credential', () => {
    expect(bearerCredential('Bearer abc def')).toBe('abc def');
    expect(bearerCredential('BEARER x')).toBe('x');
    expect(refusal(() => bearerCredential(undefined)).body).toMatchObject({ errors: [{ description: 'Unauthorized' }] });
    expect(refusal(() => bearerCredential('Bearer\u00e9 x')).body).toMatchObject({ errors: [{ description: 'Unauthorized' }] });
    expect(refusal(() => bearerCredential('Basic x')).body).toMatchObject({ errors: [{ description: 'Unsupported' }] });
  });

  it('scope strings split on spaces and commas', () => {
    expect(splitScope('a b,c  d, e')).toEqual(['a', 'b', 'c', 'd', 'e']);
    expect(splitScope('')).toEqual([]);
  });

  it('MAX_GENERATION: the double 2^63 stands for it and goes back to the database exactly', () => {
    expect(MAX_GENERATION).toBe(9223372036854775807n);
    expect(isMaxGeneration(Number('9223372036854775807'))).toBe(true);
    expect(isMaxGeneration(JSON.parse('9223372036854775807'))).toBe(true);
    expect(isMaxGeneration(Date.now())).toBe(false);
    expect(sqlInt(MAX_GENERATION_NUMBER) as unknown).toBe(MAX_GENERATION);
    expect(sqlInt(1234)).toBe(1234);
  });

  it('lock keys: apart from storage uids (positive) and accounts (-(2^48)..-1)', () => {
    const lowestAccount = accountLockKey('ffffffffffff' + '0'.repeat(20));
    expect(lowestAccount).toBe(-(2 ** 48));
    for (const email of ['a@b', 'ffffffffffffffffffffffffffffffff@api.accounts.firefox.com', '']) {
      const key = userLockKey(email);
      expect(Number.isSafeInteger(key)).toBe(true);
      expect(key).toBeLessThanOrEqual(-(2 ** 49));
      expect(key).toBeGreaterThan(-(2 ** 49) - 2 ** 48);
    }
    expect(NODE_SYNC_LOCK_KEY).toBeLessThan(lowestAccount);
    expect(NODE_SYNC_LOCK_KEY).toBeGreaterThan(-(2 ** 49));
  });
});
