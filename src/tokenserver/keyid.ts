import { errors } from './errors.js';

// X-KeyID and X-Client-State (sync-storage.md 1.4). X-KeyID is
// "<keys_changed_at ms>-<base64url without padding of the client-state bytes>".

export interface KeyId {
  /** Lower-case hex of the key fingerprint; '' when X-KeyID carries none. */
  clientState: string;
  /** undefined when X-KeyID says 0 (0 means "not known", like an absent value). */
  keysChangedAt: number | undefined;
}

const VISIBLE_ASCII = /^[\t\x20-\x7e]*$/;
const CLIENT_STATE = /^[a-zA-Z0-9._-]{1,32}$/;
const BASE64URL_NO_PAD = /^[A-Za-z0-9_-]*$/;
const SIGNED_INTEGER = /^[+-]?[0-9]+$/;
const I64_MAX = 2n ** 63n - 1n;
const I64_MIN = -(2n ** 63n);

/** Strict base64url without padding: undefined for anything with other characters, padding or stray bits. */
function decodeNoPad(text: string): Buffer | undefined {
  if (!BASE64URL_NO_PAD.test(text) || text.length % 4 === 1) return undefined;
  const bytes = Buffer.from(text, 'base64url');
  return bytes.toString('base64url') === text ? bytes : undefined;
}

/** A signed 64-bit integer as Rust's i64 parser reads it (optional sign, digits only). */
function parseI64(text: string): number | undefined {
  if (!SIGNED_INTEGER.test(text)) return undefined;
  const value = BigInt(text);
  if (value > I64_MAX || value < I64_MIN) return undefined;
  return Number(value);
}

/**
 * Parse the headers in syncstorage-rs's order: presence and ASCII of X-KeyID, the dash, the
 * fingerprint, then X-Client-State (400 when malformed, 401 when it disagrees), and last the
 * timestamp.
 */
export function parseKeyId(keyIdHeader: string | string[] | undefined, clientStateHeader: string | string[] | undefined): KeyId {
  if (keyIdHeader === undefined) throw errors.missingKeyId();
  const keyId = Array.isArray(keyIdHeader) ? keyIdHeader.join(', ') : keyIdHeader;
  if (!VISIBLE_ASCII.test(keyId)) throw errors.invalidKeyId();
  const dash = keyId.indexOf('-');
  if (dash < 0) throw errors.invalidCredentials('X-KeyID has no dash');
  const bytes = decodeNoPad(keyId.slice(dash + 1));
  if (!bytes) throw errors.invalidCredentials('X-KeyID fingerprint is not base64url');
  const clientState = bytes.toString('hex');

  // A header that is not visible ASCII counts as absent, as in syncstorage-rs.
  const given = Array.isArray(clientStateHeader) ? clientStateHeader.join(', ') : clientStateHeader;
  if (given !== undefined && VISIBLE_ASCII.test(given)) {
    if (!CLIENT_STATE.test(given)) throw errors.malformedClientState();
    if (given !== clientState) throw errors.clientStateMismatch();
  }

  const keysChangedAt = parseI64(keyId.slice(0, dash));
  if (keysChangedAt === undefined) throw errors.invalidCredentials('X-KeyID timestamp is not an integer');
  return { clientState, keysChangedAt: keysChangedAt === 0 ? undefined : keysChangedAt };
}
