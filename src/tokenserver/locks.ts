import { createHash } from 'node:crypto';

// Advisory lock keys of the tokenserver (PostgreSQL; SQLite serializes every writer anyway).
// The three users of writeTransaction keep apart:
//   storage    uid                          (positive)
//   accounts   -(first 48 bits of uid) - 1  [-(2^48), -1]
//   tokenserver, this file                  [-(2^49 + 2^48 - 1), -(2^49 - 1)]:
//     one user (email)  -(2^49) - (first 48 bits of SHA-256(email))
//     node sync         -(2^49) + 1

const BASE = 2 ** 49;

/** Serializes the requests of one tokenserver user, so two can never allocate two rows. */
export function userLockKey(email: string): number {
  const h = parseInt(createHash('sha256').update(email, 'utf8').digest('hex').slice(0, 12), 16);
  return -BASE - h;
}

/** Serializes the start-up synchronisation of the configured nodes across processes. */
export const NODE_SYNC_LOCK_KEY = -BASE + 1;
