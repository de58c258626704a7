// The client side of onepw (fxa-auth.md 2.2, 2.4, 2.5) on WebCrypto alone, so the sign-in
// pages run this very file in the browser and our tests run it in Node. No Node imports here.

const NS = 'identity.mozilla.com/picl/v1/';
const encoder = new TextEncoder();

export type TokenType = 'sessionToken' | 'keyFetchToken' | 'accountResetToken' | 'passwordForgotToken' | 'passwordChangeToken';

function subtle(): SubtleCrypto {
  const s = globalThis.crypto?.subtle;
  if (!s) throw new Error('WebCrypto is not available (the page must be served over https or from localhost)');
  return s;
}

export function hexToBytes(hex: string): Uint8Array {
  if (!/^(?:[0-9a-fA-F]{2})*$/.test(hex)) throw new Error('not a hex string');
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.slice(i * 2, i * 2 + 2), 16);
  return out;
}

export function bytesToHex(bytes: Uint8Array): string {
  let s = '';
  for (const b of bytes) s += b.toString(16).padStart(2, '0');
  return s;
}

export function xor(a: Uint8Array, b: Uint8Array): Uint8Array {
  if (a.length !== b.length) throw new Error('xor of different lengths');
  return a.map((v, i) => v ^ b[i]!);
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** HKDF-SHA256 with an empty salt (fxa-auth.md 0), `info` in UTF-8. */
export async function hkdf(ikm: Uint8Array, info: string, length: number, salt: Uint8Array = new Uint8Array(0)): Promise<Uint8Array> {
  const key = await subtle().importKey('raw', ikm as BufferSource, 'HKDF', false, ['deriveBits']);
  const bits = await subtle().deriveBits({ name: 'HKDF', hash: 'SHA-256', salt: salt as BufferSource, info: encoder.encode(info) }, key, length * 8);
  return new Uint8Array(bits);
}

export async function hmacSha256(key: Uint8Array, data: Uint8Array): Promise<Uint8Array> {
  const k = await subtle().importKey('raw', key as BufferSource, { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
  return new Uint8Array(await subtle().sign('HMAC', k, data as BufferSource));
}

export async function sha256(data: Uint8Array): Promise<Uint8Array> {
  return new Uint8Array(await subtle().digest('SHA-256', data as BufferSource));
}

/** PBKDF2-SHA256(password, "…quickStretch:" + email, 1000 rounds). The e-mail as registered; no normalisation. */
export async function quickStretch(email: string, password: string): Promise<Uint8Array> {
  const key = await subtle().importKey('raw', encoder.encode(password), 'PBKDF2', false, ['deriveBits']);
  const bits = await subtle().deriveBits(
    { name: 'PBKDF2', hash: 'SHA-256', salt: encoder.encode(`${NS}quickStretch:${email}`), iterations: 1000 },
    key,
    256,
  );
  return new Uint8Array(bits);
}

export interface PasswordCredentials {
  quickStretchedPW: Uint8Array;
  /** Sent to the server (as hex). */
  authPW: Uint8Array;
  /** Never leaves the client: unwraps kB. */
  unwrapBKey: Uint8Array;
}

export async function passwordCredentials(email: string, password: string): Promise<PasswordCredentials> {
  const quickStretchedPW = await quickStretch(email, password);
  const [authPW, unwrapBKey] = await Promise.all([hkdf(quickStretchedPW, `${NS}authPW`, 32), hkdf(quickStretchedPW, `${NS}unwrapBkey`, 32)]);
  return { quickStretchedPW, authPW, unwrapBKey };
}

export interface TokenKeys {
  /** Public id: the Hawk id (hex) and the server's key. */
  tokenId: Uint8Array;
  /** Hawk MAC key. */
  authKey: Uint8Array;
  /** Only keyFetchToken uses it: it unlocks the /account/keys bundle. */
  bundleKey: Uint8Array;
}

/** Expand a token's 32 random bytes into its id, Hawk key and bundle key. */
export async function deriveTokenKeys(tokenData: Uint8Array, type: TokenType): Promise<TokenKeys> {
  const out = await hkdf(tokenData, NS + type, 96);
  return { tokenId: out.slice(0, 32), authKey: out.slice(32, 64), bundleKey: out.slice(64, 96) };
}

export interface AccountKeys {
  kA: Uint8Array;
  wrapKb: Uint8Array;
}

async function bundleKeys(bundleKey: Uint8Array): Promise<{ hmacKey: Uint8Array; xorKey: Uint8Array }> {
  const out = await hkdf(bundleKey, `${NS}account/keys`, 96);
  return { hmacKey: out.slice(0, 32), xorKey: out.slice(32, 96) };
}

/** Open the /account/keys bundle (hex) with the key-fetch token's bundleKey. Throws on a bad MAC. */
export async function unbundleKeys(bundleKey: Uint8Array, bundleHex: string): Promise<AccountKeys> {
  const bundle = hexToBytes(bundleHex);
  if (bundle.length !== 96) throw new Error('key bundle has the wrong length');
  const ciphertext = bundle.slice(0, 64);
  const { hmacKey, xorKey } = await bundleKeys(bundleKey);
  const expected = await hmacSha256(hmacKey, ciphertext);
  let diff = 0;
  for (let i = 0; i < 32; i++) diff |= expected[i]! ^ bundle[64 + i]!;
  if (diff !== 0) throw new Error('key bundle MAC mismatch');
  const plain = xor(ciphertext, xorKey);
  return { kA: plain.slice(0, 32), wrapKb: plain.slice(32, 64) };
}

/** The server side of the same bundle: (kA || wrapKb) XOR respXORkey, then its HMAC. */
export async function bundleKeysFor(bundleKey: Uint8Array, keys: AccountKeys): Promise<string> {
  const { hmacKey, xorKey } = await bundleKeys(bundleKey);
  const ciphertext = xor(concat(keys.kA, keys.wrapKb), xorKey);
  return bytesToHex(concat(ciphertext, await hmacSha256(hmacKey, ciphertext)));
}

/** kB = wrapKb XOR unwrapBKey. */
export function unwrapKb(wrapKb: Uint8Array, unwrapBKey: Uint8Array): Uint8Array {
  return xor(wrapKb, unwrapBKey);
}

/** wrapKb to send at a password change: the same kB under the new password's unwrapBKey. */
export function wrapKb(kB: Uint8Array, unwrapBKey: Uint8Array): Uint8Array {
  return xor(kB, unwrapBKey);
}
