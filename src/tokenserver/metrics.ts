import { createHmac } from 'node:crypto';

// Pseudonymous identifiers for telemetry (sync-storage.md 1.14): HMAC-SHA256 keyed with the
// metrics secret, first 32 hex characters.

function hmac32(secret: string, message: string): string {
  return createHmac('sha256', Buffer.from(secret, 'utf8')).update(message, 'utf8').digest('hex').slice(0, 32);
}

export function hashedFxaUid(secret: string, fxaUid: string): string {
  return hmac32(secret, fxaUid);
}

/** OAuth requests carry no device id; syncstorage-rs hashes the literal "none" in its place. */
export function hashedDeviceId(secret: string, hashedUid: string, deviceId = 'none'): string {
  return hmac32(secret, hashedUid + deviceId);
}
