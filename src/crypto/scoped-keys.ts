// Scoped keys and keys_jwe (fxa-auth.md 5.3, 5.4) on WebCrypto alone: the sign-in pages derive
// the Sync key from kB and encrypt it to the browser's ephemeral key with this very file, and our
// tests open the result as Firefox does. No Node imports here.

import { hkdf, sha256 } from './onepw.js';

export const OLDSYNC_SCOPE = 'https://identity.mozilla.com/apps/oldsync';
const NS = 'identity.mozilla.com/picl/v1/';
const encoder = new TextEncoder();
const decoder = new TextDecoder();

export interface ScopedKey {
  kty: 'oct';
  scope: string;
  /** b64url key bytes. */
  k: string;
  kid: string;
}

export interface EcPublicJwk {
  kty: 'EC';
  crv: 'P-256';
  x: string;
  y: string;
  kid?: string;
}

export interface EcPrivateJwk extends EcPublicJwk {
  d: string;
}

function subtle(): SubtleCrypto {
  const s = globalThis.crypto?.subtle;
  if (!s) throw new Error('WebCrypto is not available (the page must be served over https or from localhost)');
  return s;
}

export function b64urlEncode(bytes: Uint8Array): string {
  let bin = '';
  for (const b of bytes) bin += String.fromCharCode(b);
  return btoa(bin).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

export function b64urlDecode(text: string): Uint8Array {
  if (!/^[A-Za-z0-9_-]*$/.test(text) || text.length % 4 === 1) throw new Error('not base64url');
  const bin = atob(text.replace(/-/g, '+').replace(/_/g, '/') + '='.repeat((4 - (text.length % 4)) % 4));
  return Uint8Array.from(bin, (c) => c.charCodeAt(0));
}

/** The Sync key: 64 bytes of HKDF over kB, named by the key-rotation time and kB's fingerprint. */
export async function oldsyncKey(kB: Uint8Array, keyRotationTimestamp: number): Promise<ScopedKey> {
  if (!Number.isSafeInteger(keyRotationTimestamp) || keyRotationTimestamp <= 0) throw new Error('keyRotationTimestamp must be a positive integer (ms)');
  const [k, digest] = await Promise.all([hkdf(kB, `${NS}oldsync`, 64), sha256(kB)]);
  return { kty: 'oct', scope: OLDSYNC_SCOPE, k: b64urlEncode(k), kid: `${keyRotationTimestamp}-${b64urlEncode(digest.slice(0, 16))}` };
}

/** Any other key-bearing scope: HKDF(kB || keyRotationSecret, salt = uid) split into fingerprint and key. */
export async function genericScopedKey(
  kB: Uint8Array,
  uid: Uint8Array,
  identifier: string,
  keyRotationSecret: Uint8Array,
  keyRotationTimestamp: number,
): Promise<ScopedKey> {
  const ikm = new Uint8Array(kB.length + keyRotationSecret.length);
  ikm.set(kB);
  ikm.set(keyRotationSecret, kB.length);
  const out = await hkdf(ikm, `${NS}scoped_key\n${identifier}`, 48, uid);
  const seconds = Math.round(keyRotationTimestamp / 1000);
  return { kty: 'oct', scope: identifier, k: b64urlEncode(out.slice(16, 48)), kid: `${seconds}-${b64urlEncode(out.slice(0, 16))}` };
}

/** Concat KDF (RFC 7518 4.6) for ECDH-ES with A256GCM: one SHA-256 round, empty apu/apv. */
async function concatKdf(z: Uint8Array): Promise<Uint8Array> {
  const alg = encoder.encode('A256GCM');
  const input = new Uint8Array(4 + z.length + 4 + alg.length + 4 + 4 + 4);
  const view = new DataView(input.buffer);
  let at = 0;
  view.setUint32(at, 1);
  at += 4;
  input.set(z, at);
  at += z.length;
  view.setUint32(at, alg.length);
  at += 4;
  input.set(alg, at);
  at += alg.length;
  view.setUint32(at, 0); // apu
  at += 4;
  view.setUint32(at, 0); // apv
  at += 4;
  view.setUint32(at, 256); // key data length in bits
  return sha256(input);
}

async function importEc(jwk: EcPublicJwk | EcPrivateJwk, usePrivate: boolean): Promise<CryptoKey> {
  const clean = usePrivate
    ? { kty: 'EC', crv: 'P-256', x: jwk.x, y: jwk.y, d: (jwk as EcPrivateJwk).d }
    : { kty: 'EC', crv: 'P-256', x: jwk.x, y: jwk.y };
  return subtle().importKey('jwk', clean, { name: 'ECDH', namedCurve: 'P-256' }, false, usePrivate ? ['deriveBits'] : []);
}

async function sharedSecret(privateKey: CryptoKey, publicKey: CryptoKey): Promise<Uint8Array> {
  return new Uint8Array(await subtle().deriveBits({ name: 'ECDH', public: publicKey }, privateKey, 256));
}

/** Read the keys_jwk parameter Firefox puts in the sign-in URL (b64url of a P-256 public JWK). */
export function parseKeysJwk(param: string): EcPublicJwk {
  const jwk = JSON.parse(decoder.decode(b64urlDecode(param))) as Partial<EcPublicJwk>;
  if (jwk.kty !== 'EC' || jwk.crv !== 'P-256' || typeof jwk.x !== 'string' || typeof jwk.y !== 'string') throw new Error('keys_jwk is not a P-256 public key');
  return { kty: 'EC', crv: 'P-256', x: jwk.x, y: jwk.y, ...(typeof jwk.kid === 'string' ? { kid: jwk.kid } : {}) };
}

export interface JweOptions {
  /** Sender's ephemeral key; a fresh one when absent (given only by test vectors). */
  ephemeral?: EcPrivateJwk;
  /** 12-byte IV; random when absent (given only by test vectors). */
  iv?: Uint8Array;
}

/** Encrypt `keys` ({scope: jwk}) to the browser's public key: compact JWE, ECDH-ES + A256GCM. */
export async function encryptKeysJwe(keys: Record<string, unknown>, recipient: EcPublicJwk, options: JweOptions = {}): Promise<string> {
  let ephemeralPrivate: CryptoKey;
  let epk: EcPublicJwk;
  if (options.ephemeral) {
    ephemeralPrivate = await importEc(options.ephemeral, true);
    epk = { crv: 'P-256', kty: 'EC', x: options.ephemeral.x, y: options.ephemeral.y };
  } else {
    const pair = (await subtle().generateKey({ name: 'ECDH', namedCurve: 'P-256' }, true, ['deriveBits'])) as CryptoKeyPair;
    ephemeralPrivate = pair.privateKey;
    const pub = await subtle().exportKey('jwk', pair.publicKey);
    epk = { crv: 'P-256', kty: 'EC', x: pub.x!, y: pub.y! };
  }
  const z = await sharedSecret(ephemeralPrivate, await importEc(recipient, false));
  const cek = await subtle().importKey('raw', (await concatKdf(z)) as BufferSource, 'AES-GCM', false, ['encrypt']);
  const header = { alg: 'ECDH-ES', enc: 'A256GCM', epk: { crv: 'P-256', kty: 'EC', x: epk.x, y: epk.y }, ...(recipient.kid ? { kid: recipient.kid } : {}) };
  const protectedHeader = b64urlEncode(encoder.encode(JSON.stringify(header)));
  const iv = options.iv ?? globalThis.crypto.getRandomValues(new Uint8Array(12));
  const sealed = new Uint8Array(
    await subtle().encrypt({ name: 'AES-GCM', iv: iv as BufferSource, additionalData: encoder.encode(protectedHeader), tagLength: 128 }, cek, encoder.encode(JSON.stringify(keys))),
  );
  const ciphertext = sealed.slice(0, sealed.length - 16);
  const tag = sealed.slice(sealed.length - 16);
  return `${protectedHeader}..${b64urlEncode(iv)}.${b64urlEncode(ciphertext)}.${b64urlEncode(tag)}`;
}

/** Open a keys_jwe with the recipient's private key, as Firefox does; throws on any tampering. */
export async function decryptKeysJwe(jwe: string, recipient: EcPrivateJwk): Promise<Record<string, ScopedKey>> {
  const parts = jwe.split('.');
  if (parts.length !== 5 || parts[1] !== '') throw new Error('not a compact JWE with direct key agreement');
  const [protectedHeader, , ivPart, ctPart, tagPart] = parts as [string, string, string, string, string];
  const header = JSON.parse(decoder.decode(b64urlDecode(protectedHeader))) as { alg?: string; enc?: string; epk?: EcPublicJwk };
  if (header.alg !== 'ECDH-ES' || header.enc !== 'A256GCM' || !header.epk) throw new Error('unsupported JWE algorithms');
  const z = await sharedSecret(await importEc(recipient, true), await importEc(header.epk, false));
  const cek = await subtle().importKey('raw', (await concatKdf(z)) as BufferSource, 'AES-GCM', false, ['decrypt']);
  const ct = b64urlDecode(ctPart);
  const tag = b64urlDecode(tagPart);
  const sealed = new Uint8Array(ct.length + tag.length);
  sealed.set(ct);
  sealed.set(tag, ct.length);
  const plain = await subtle().decrypt(
    { name: 'AES-GCM', iv: b64urlDecode(ivPart) as BufferSource, additionalData: encoder.encode(protectedHeader), tagLength: 128 },
    cek,
    sealed as BufferSource,
  );
  return JSON.parse(decoder.decode(plain)) as Record<string, ScopedKey>;
}

/** PKCE S256: b64url(SHA-256(verifier)). */
export async function pkceChallenge(verifier: string): Promise<string> {
  return b64urlEncode(await sha256(encoder.encode(verifier)));
}
