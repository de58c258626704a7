import { describe, expect, it } from 'vitest';
import { computeMac, hawkHeader, normalizedString, parseHawkHeader, payloadHash } from '../../src/crypto/hawk.js';
import { makeToken, signingKey, TokenVerifier } from '../../src/crypto/tokenlib.js';

// Vectors from sync-storage.md 1.11 (cross-checked upstream against tokenlib).
const VECTOR = {
  secret: 'secret0',
  ksig: 'd97f4804f510ebf3161e7c140bde92f3e988b59f5d90dd38e7bf5382ddddaf91',
  payload: {
    node: 'http://localhost:8000',
    fxa_kid: '0000000001234-qqo',
    fxa_uid: '0123456789abcdef0123456789abcdef',
    hashed_device_id: 'dddddddddddddddddddddddddddddddd',
    hashed_fxa_uid: 'eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee',
    expires: 2000000000,
    uid: 42,
    tokenserver_origin: 'rust',
    salt: 'a1b2c3',
  },
  id: 'eyJub2RlIjoiaHR0cDovL2xvY2FsaG9zdDo4MDAwIiwiZnhhX2tpZCI6IjAwMDAwMDAwMDEyMzQtcXFvIiwiZnhhX3VpZCI6IjAxMjM0NTY3ODlhYmNkZWYwMTIzNDU2Nzg5YWJjZGVmIiwiaGFzaGVkX2RldmljZV9pZCI6ImRkZGRkZGRkZGRkZGRkZGRkZGRkZGRkZGRkZGRkZGRkIiwiaGFzaGVkX2Z4YV91aWQiOiJlZWVlZWVlZWVlZWVlZWVlZWVlZWVlZWVlZWVlZWVlZSIsImV4cGlyZXMiOjIwMDAwMDAwMDAsInVpZCI6NDIsInRva2Vuc2VydmVyX29yaWdpbiI6InJ1c3QiLCJzYWx0IjoiYTFiMmMzIn3UGCtobEvIjQ963sJIw9NY6pdYpiyFDNGpQl3ziFfBEw==',
  key: 'Zful7HzuzpEUCv4X8AGX0XErPCGpgO2n44pFiebP5UI=',
  mac: 'V3j0jezpSeYR2qPKoEnCvV3XEkMdgK/7+JdT2/2AgdM=',
};

describe('tokenlib tokens', () => {
  it('derives the signing key of the vector', () => {
    expect(signingKey(VECTOR.secret).toString('hex')).toBe(VECTOR.ksig);
  });

  it('produces the vector id and key byte for byte', () => {
    const token = makeToken(VECTOR.secret, VECTOR.payload);
    expect(token.id).toBe(VECTOR.id);
    expect(token.key).toBe(VECTOR.key);
  });

  it('verifies the vector token and recovers payload and key', () => {
    const result = new TokenVerifier([VECTOR.secret]).verify(VECTOR.id);
    expect(result?.payload).toEqual(VECTOR.payload);
    expect(result?.key).toBe(VECTOR.key);
  });

  it('accepts a token signed with any configured secret and signs with the newest', () => {
    const verifier = new TokenVerifier(['old-secret-0000000', VECTOR.secret]);
    expect(verifier.verify(VECTOR.id)?.key).toBe(VECTOR.key);
    const fresh = verifier.sign({ uid: 1, node: 'x', expires: 1 });
    expect(new TokenVerifier([VECTOR.secret]).verify(fresh.id)).toBeDefined();
    expect(new TokenVerifier(['old-secret-0000000']).verify(fresh.id)).toBeUndefined();
  });

  it('rejects tampered, truncated and garbage ids', () => {
    const verifier = new TokenVerifier([VECTOR.secret]);
    expect(verifier.verify(VECTOR.id.replace('eyJub2Rl', 'eyJub2Rm'))).toBeUndefined();
    expect(verifier.verify(VECTOR.id.slice(0, 40))).toBeUndefined();
    expect(verifier.verify('not a token')).toBeUndefined();
    expect(verifier.verify('')).toBeUndefined();
    expect(new TokenVerifier(['secret1']).verify(VECTOR.id)).toBeUndefined();
  });

  it('accepts tokenlib payloads with a float expires and unknown fields', () => {
    const token = makeToken(VECTOR.secret, { uid: 7, node: 'http://n', expires: 1700000000.123456, extra: 'x' });
    const result = new TokenVerifier([VECTOR.secret]).verify(token.id);
    expect(result?.payload.expires).toBe(1700000000.123456);
    expect(result?.payload.extra).toBe('x');
  });

  it('rejects a correctly signed payload without the required claims', () => {
    for (const bad of [{ node: 'x', expires: 1, salt: 'a' }, { uid: -1, node: 'x', expires: 1 }, { uid: 1, node: 2, expires: 1 }, { uid: 1, node: 'x', expires: 'soon' }]) {
      const token = makeToken(VECTOR.secret, bad as never);
      expect(new TokenVerifier([VECTOR.secret]).verify(token.id)).toBeUndefined();
    }
  });
});

describe('Hawk', () => {
  const req = { method: 'GET', resource: '/1.5/42/info/collections', host: 'localhost', port: 8000 };

  it('computes the vector MAC with the token key as ASCII bytes', () => {
    expect(computeMac(VECTOR.key, req, { ts: '1700000000', nonce: 'abcdef' })).toBe(VECTOR.mac);
  });

  it('builds the normalized string field by field', () => {
    expect(normalizedString({ ...req, host: 'LocalHost' }, { ts: '1', nonce: 'n', hash: 'h', ext: 'a\\b\nc' })).toBe(
      'hawk.1.header\n1\nn\nGET\n/1.5/42/info/collections\nlocalhost\n8000\nh\na\\\\b\\nc\n',
    );
  });

  it('parses what it writes, with escapes', () => {
    const header = hawkHeader(req, { id: 'abc', key: 'k', ts: 5, nonce: 'xyz', ext: 'say "hi"', hash: 'H' });
    expect(parseHawkHeader(header)).toEqual({ id: 'abc', ts: '5', nonce: 'xyz', mac: expect.any(String), hash: 'H', ext: 'say "hi"' });
  });

  it('rejects malformed headers', () => {
    for (const h of [
      undefined,
      '',
      'Bearer abc',
      'Hawk',
      'Hawk id="a", ts="1", nonce="n"',
      'Hawk id="a", ts="x", nonce="n", mac="m"',
      'Hawk id="a", ts="1", nonce="n", mac="m", bogus="1"',
      'Hawk id="a", id="b", ts="1", nonce="n", mac="m"',
      'Hawk id=a, ts="1", nonce="n", mac="m"',
    ]) {
      expect(parseHawkHeader(h)).toBeUndefined();
    }
  });

  it('hashes payloads as hawk.1.payload with the bare media type', () => {
    // Hawk's documented example: "Thank you for flying Hawk" as text/plain.
    expect(payloadHash('text/plain; charset=utf-8', 'Thank you for flying Hawk')).toBe('Yi9LfIIFRtBEPt74PVmbTF/xVAwPn7ub15ePICfgnuY=');
  });
});
