import { errors } from './errors.js';

// The Authorization header, checked in syncstorage-rs's order (sync-storage.md 1.3).

const VISIBLE_ASCII = /^[\t\x20-\x7e]*$/;

/** The credential of "Bearer <credential>"; 401 for anything else. */
export function bearerCredential(header: string | string[] | undefined): string {
  if (header === undefined) throw errors.unauthorized('no Authorization header');
  const value = Array.isArray(header) ? header.join(', ') : header;
  if (!VISIBLE_ASCII.test(value)) throw errors.unauthorized('Authorization header is not ASCII');
  const space = value.indexOf(' ');
  if (space < 0) throw errors.unauthorized('Authorization header is not "<scheme> <credential>"');
  if (value.slice(0, space).toLowerCase() !== 'bearer') throw errors.unsupportedScheme();
  return value.slice(space + 1);
}
