import { createCipheriv, createDecipheriv, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

// Sync record crypto as Firefox does it (firefox-client.md 4.4, 4.5): AES-256-CBC with PKCS#7
// and HMAC-SHA256 over the base64 ciphertext; crypto/keys is encrypted with kSync (the oldsync
// scoped key: 32 bytes encryption, 32 bytes HMAC), everything else with crypto/keys' default.

export interface KeyBundle {
  encKey: Buffer;
  hmacKey: Buffer;
}

/** kSync (the scoped key's `k`, 64 bytes) as a key bundle. */
export function bundleFromScopedKey(k: string): KeyBundle {
  const raw = Buffer.from(k, 'base64url');
  if (raw.length !== 64) throw new Error(`kSync must be 64 bytes, got ${raw.length}`);
  return { encKey: raw.subarray(0, 32), hmacKey: raw.subarray(32) };
}

export function randomBundle(): KeyBundle {
  return { encKey: randomBytes(32), hmacKey: randomBytes(32) };
}

/** The BSO payload string for a cleartext record. */
export function encryptRecord(bundle: KeyBundle, cleartext: Record<string, unknown>): string {
  const iv = randomBytes(16);
  const cipher = createCipheriv('aes-256-cbc', bundle.encKey, iv);
  const ciphertext = Buffer.concat([cipher.update(JSON.stringify(cleartext), 'utf8'), cipher.final()]).toString('base64');
  const hmac = createHmac('sha256', bundle.hmacKey).update(ciphertext, 'utf8').digest('hex');
  return JSON.stringify({ ciphertext, IV: iv.toString('base64'), hmac });
}

/** HMAC checked first, as Firefox does; throws on a mismatch. */
export function decryptRecord(bundle: KeyBundle, payload: string): Record<string, unknown> {
  const { ciphertext, IV, hmac } = JSON.parse(payload) as { ciphertext: string; IV: string; hmac: string };
  const expected = createHmac('sha256', bundle.hmacKey).update(ciphertext, 'utf8').digest();
  const given = Buffer.from(hmac, 'hex');
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) throw new Error('HMAC mismatch');
  const decipher = createDecipheriv('aes-256-cbc', bundle.encKey, Buffer.from(IV, 'base64'));
  return JSON.parse(Buffer.concat([decipher.update(Buffer.from(ciphertext, 'base64')), decipher.final()]).toString('utf8'));
}

/** crypto/keys cleartext holding a default bundle. */
export function cryptoKeysRecord(bundle: KeyBundle): Record<string, unknown> {
  return { id: 'keys', collection: 'crypto', default: [bundle.encKey.toString('base64'), bundle.hmacKey.toString('base64')], collections: {} };
}

export function bundleFromCryptoKeys(record: Record<string, unknown>): KeyBundle {
  const [enc, mac] = record.default as [string, string];
  return { encKey: Buffer.from(enc, 'base64'), hmacKey: Buffer.from(mac, 'base64') };
}
