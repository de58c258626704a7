import type { FastifyPluginAsync } from 'fastify';
import type { TokenserverSettings } from '../config.js';
import type { TokenVerifier } from '../crypto/tokenlib.js';
import type { Database } from '../db/index.js';

// PLACEHOLDER: the tokenserver (sync-storage.md 1) is being written; this file fixes its shape.

/** What an accounts server vouches for in an OAuth access token. */
export interface VerifiedAccessToken {
  /** FxA uid, 32 hex. */
  uid: string;
  scope: string[];
  /** verifierSetAt (ms) at issue, when the accounts server says. */
  generation?: number;
}

export interface TokenserverOptions {
  database: Database;
  settings: TokenserverSettings;
  /** Signs storage tokens (tokenlib, FOXDEN_SYNC_MASTER_SECRET). */
  tokens: TokenVerifier;
  /** Checks this server's own OAuth access tokens; undefined when local accounts are off. */
  localVerifier?: (token: string) => Promise<VerifiedAccessToken | undefined>;
  /** Deletes every record of a storage uid on this server's own node. */
  deleteLocalUser: (uid: number) => Promise<void>;
  /** FOXDEN_PUBLIC_URL without trailing slash; undefined = this node's URL comes from each request. */
  publicBase: string | undefined;
  /** Fallback URL of this node when FOXDEN_PUBLIC_URL is unset. */
  fallbackBase: string;
  log: { info(obj: object, msg: string): void; warn(obj: object, msg: string): void; error(obj: object, msg: string): void };
}

export interface Tokenserver {
  /** GET /1.0/:application/:version; registered at /token and at the root. */
  routes: FastifyPluginAsync;
  /** The account is gone: retire its storage users and delete their data. */
  retireUser(fxaUid: string): Promise<void>;
  /** Background job: delete data of replaced/retired users on remote nodes. Returns how many uids were purged. */
  purgeRemote(): Promise<number>;
}

export async function createTokenserver(_options: TokenserverOptions): Promise<Tokenserver> {
  return {
    routes: async () => {},
    retireUser: async () => {},
    purgeRemote: async () => 0,
  };
}
