import { describe, expect, it } from 'vitest';
import { hexToBytes } from '../../src/crypto/onepw.js';
import {
  b64urlDecode,
  b64urlEncode,
  decryptKeysJwe,
  encryptKeysJwe,
  genericScopedKey,
  oldsyncKey,
  OLDSYNC_SCOPE,
  parseKeysJwk,
  pkceChallenge,
  type EcPrivateJwk,
} from '../../src/crypto/scoped-keys.js';

// Vectors from fxa-auth.md 2.6, 5.3 and 5.4.

const recipient: EcPrivateJwk = {
  kty: 'EC',
  crv: 'P-256',
  d: 'KXAjjEr4KT9UlYI4BE0BefVdoxP8vqO389U7lQlCigs',
  x: 'SiBn6uebjigmQqw4TpNzs3AUyCae1_sG2b9Fzhq3Fyo',
  y: 'q99Xq1RWNTFpk99pdQOSjUvwELss51PkmAGCXhLfMV4',
};
const ephemeral: EcPrivateJwk = {
  kty: 'EC',
  crv: 'P-256',
  d: 'X9tJG0Ue55tuepC-6msMg04Qv5gJtL95AIJ0X0gDj8Q',
  x: 'N4zPRazB87vpeBgHzFvkvd_48owFYYxEVXRMrOU6LDo',
  y: '4ncUxN6x_xT1T1kzy_S_V2fYZ7uUJT_HVRNZBLJRsxU',
};
const KEYS_JWK =
  'eyJjcnYiOiJQLTI1NiIsImt0eSI6IkVDIiwieCI6IlNpQm42dWViamlnbVFxdzRUcE56czNBVXlDYWUxX3NHMmI5RnpocTNGeW8iLCJ5IjoicTk5WHExUldOVEZwazk5cGRRT1NqVXZ3RUxzczUxUGttQUdDWGhMZk1WNCJ9';
const JWE =
  'eyJhbGciOiJFQ0RILUVTIiwiZW5jIjoiQTI1NkdDTSIsImVwayI6eyJjcnYiOiJQLTI1NiIsImt0eSI6IkVDIiwieCI6Ik40elBSYXpCODd2cGVCZ0h6RnZrdmRfNDhvd0ZZWXhFVlhSTXJPVTZMRG8iLCJ5IjoiNG5jVXhONnhfeFQxVDFrenlfU19WMmZZWjd1VUpUX0hWUk5aQkxKUnN4VSJ9fQ.._0sYf7HdWuRv2cM0.U5ZK5BYZWhLluS7q4y4ZFW1t_sSPt4me-5Ltscs1dWpoPnIZa3xEng2xsUOBaHfBra6m4wdgzrg6qINhBz0LuDwAfrHOtfRlpqeV3nrKhas1mGEQzr6lD4zBVYpmF_chm61IySnVxprsA1BulinIER2EIJbA.3Lh7cwCocbA2VkBBnsKgXA';
const APP_KEY = { app_key: { k: 'Kkbk1_Q0oCcTmggeDH6880bQrxin2RLu5D00NcJazdQ', kid: '1510726317-Voc-Eb9IpoTINuo9ll7bjA', kty: 'oct' } };

describe('scoped keys', () => {
  it('derives the Sync key and its kid from kB (legacy oldsync scope)', async () => {
    const key = await oldsyncKey(hexToBytes('a095c51c1c6e384e8d5777d97e3c487a4fc2128a00ab395a73d57fedf41631f0'), 1700000000000);
    expect(key).toEqual({
      kty: 'oct',
      scope: OLDSYNC_SCOPE,
      k: 'kQPj8kEpjWjYyASPJYIswcHf4ZOHCch5O6LNi56NYMyB_TPaZSxVw_es82GVY0aQQFKXc5KhNAdeLw8dFzLWiA',
      kid: '1700000000000-w_NDVTH7Ap9OINQpwXCVYg',
    });
  });

  it('refuses a missing or zero key-rotation time (Firefox rejects such kids)', async () => {
    await expect(oldsyncKey(new Uint8Array(32), 0)).rejects.toThrow(/positive/);
  });

  it('derives a generic scoped key as the scoped-keys document does', async () => {
    const key = await genericScopedKey(
      hexToBytes('8b2e1303e21eee06a945683b8d495b9bf079ca30baa37eb8392d9ffa4767be45'),
      hexToBytes('aeaa1725c7a24ff983c6295725d5fc9b'),
      'app_key:https%3A//example.com',
      hexToBytes('517d478cb4f994aa69930416648a416fdaa1762c5abf401a2acf11a0f185e98d'),
      1510726317 * 1000,
    );
    expect(key.k).toBe(APP_KEY.app_key.k);
    expect(key.kid).toBe(APP_KEY.app_key.kid);
  });
});

describe('keys_jwe', () => {
  it('reads keys_jwk from the sign-in URL', () => {
    expect(parseKeysJwk(KEYS_JWK)).toEqual({ kty: 'EC', crv: 'P-256', x: recipient.x, y: recipient.y });
    expect(() => parseKeysJwk(b64urlEncode(new TextEncoder().encode('{"kty":"RSA"}')))).toThrow(/P-256/);
  });

  it('encrypts the document vector byte for byte, given its ephemeral key and IV', async () => {
    const jwe = await encryptKeysJwe(APP_KEY, parseKeysJwk(KEYS_JWK), { ephemeral, iv: hexToBytes('ff4b187fb1dd5ae46fd9c334') });
    expect(jwe).toBe(JWE);
  });

  it('decrypts the document vector with the recipient key', async () => {
    expect(await decryptKeysJwe(JWE, recipient)).toEqual(APP_KEY);
  });

  it('round-trips a Sync key with a fresh ephemeral key and IV each time', async () => {
    const key = await oldsyncKey(new Uint8Array(32).fill(7), 1700000000123);
    const a = await encryptKeysJwe({ [OLDSYNC_SCOPE]: key }, parseKeysJwk(KEYS_JWK));
    const b = await encryptKeysJwe({ [OLDSYNC_SCOPE]: key }, parseKeysJwk(KEYS_JWK));
    expect(a).not.toBe(b);
    expect(await decryptKeysJwe(a, recipient)).toEqual({ [OLDSYNC_SCOPE]: key });
    const header = JSON.parse(new TextDecoder().decode(b64urlDecode(a.split('.')[0]!)));
    expect(header).toMatchObject({ alg: 'ECDH-ES', enc: 'A256GCM', epk: { kty: 'EC', crv: 'P-256' } });
  });

  it('refuses a tampered JWE', async () => {
    const [h, , iv, ct, tag] = JWE.split('.') as [string, string, string, string, string];
    const flip = (s: string) => (s[0] === 'A' ? 'B' : 'A') + s.slice(1);
    await expect(decryptKeysJwe([h, '', iv, ct, flip(tag)].join('.'), recipient)).rejects.toThrow();
    await expect(decryptKeysJwe([h, '', iv, flip(ct), tag].join('.'), recipient)).rejects.toThrow();
    await expect(decryptKeysJwe([h, 'x', iv, ct, tag].join('.'), recipient)).rejects.toThrow(/compact/);
    const other: EcPrivateJwk = { ...ephemeral };
    await expect(decryptKeysJwe(JWE, other)).rejects.toThrow();
  });
});

describe('PKCE', () => {
  it('computes the S256 challenge of RFC 7636', async () => {
    expect(await pkceChallenge('dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk')).toBe('E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM');
  });
});
