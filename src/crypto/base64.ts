/** base64url with '=' padding, as tokenlib writes token ids and keys. */
export function base64urlPadded(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('base64').replace(/\+/g, '-').replace(/\//g, '_');
}

/** base64url without padding (kid fingerprints, JWK members). */
export function base64urlNoPad(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('base64url');
}

const BASE64URL = /^[A-Za-z0-9_-]*={0,2}$/;

/** Strict base64url decoding (padding optional); undefined when the text is not base64url. */
export function decodeBase64url(text: string): Buffer | undefined {
  if (!BASE64URL.test(text)) return undefined;
  const bare = text.replace(/=+$/, '');
  if (bare.length % 4 === 1) return undefined;
  const bytes = Buffer.from(bare, 'base64url');
  // Reject non-canonical trailing bits so that one token has exactly one spelling.
  if (bytes.toString('base64url') !== bare) return undefined;
  return bytes;
}
