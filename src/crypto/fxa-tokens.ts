import { createHash, randomBytes } from 'node:crypto';
import { hkdfSha256 } from './hkdf.js';
import type { TokenType } from './onepw.js';

// Server side of the five onepw token types (fxa-auth.md 2.4): 32 random bytes go to the
// client; the server keeps only the derived id (its lookup key) and the Hawk key.

const NS = 'identity.mozilla.com/picl/v1/';

export interface IssuedToken {
  /** 64 hex: what the client receives. */
  data: string;
  /** 64 hex: public id (Hawk id, primary key). */
  id: string;
  /** 64 hex: Hawk MAC key. */
  authKey: string;
  /** 64 hex: keyFetchToken's bundle key. */
  bundleKey: string;
}

export function deriveToken(data: Buffer, type: TokenType): IssuedToken {
  const out = hkdfSha256(data, Buffer.alloc(0), NS + type, 96);
  return {
    data: data.toString('hex'),
    id: out.subarray(0, 32).toString('hex'),
    authKey: out.subarray(32, 64).toString('hex'),
    bundleKey: out.subarray(64, 96).toString('hex'),
  };
}

export function issueToken(type: TokenType): IssuedToken {
  return deriveToken(randomBytes(32), type);
}

/**
 * How the server keeps tokens the client holds as hex and presents as they are (OAuth refresh
 * tokens, authorization codes): SHA-256 of their bytes, hex. It is their id everywhere else.
 */
export function storedTokenHash(hex: string): string {
  return createHash('sha256').update(Buffer.from(hex, 'hex')).digest('hex');
}
