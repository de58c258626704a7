import type { FastifyPluginAsync } from 'fastify';
import type { TokenserverSettings } from '../config.js';
import type { TokenVerifier } from '../crypto/tokenlib.js';
import type { Database } from '../db/index.js';
import { ensureSecret } from '../db/secrets.js';
import type { TokenserverContext } from './issue.js';
import { ensureService, syncNodes, type NodeSyncResult } from './nodes.js';
import { purgeRemoteNodes } from './purge.js';
import { retireUser } from './retire.js';
import { tokenRoutes } from './routes.js';
import { AccessTokenVerifier } from './verifier.js';

// The tokenserver (sync-storage.md 1): trades an OAuth access token for a storage token and
// the storage endpoint of the user's node. Its tables are syncstorage-rs's (services, nodes,
// users), read afresh on every request.

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
  /** Bring the nodes table in line with the configuration again (done at start). */
  syncNodes(): Promise<NodeSyncResult>;
  /** The nodes row of this server's own storage. */
  readonly localNodeId: number;
}

const METRICS_SECRET = 'fxa_metrics_hash_secret';

export async function createTokenserver(options: TokenserverOptions): Promise<Tokenserver> {
  const { database, settings, log } = options;
  const db = database.db;
  const serviceId = await ensureService(db);
  const metricsSecret = settings.metricsHashSecret ?? (await ensureSecret(db, METRICS_SECRET));
  const verifier = new AccessTokenVerifier({
    local: options.localVerifier,
    verifyUrl: settings.fxaVerifyUrl,
    jwksUrl: settings.fxaJwksUrl,
    timeoutMs: settings.fxaRequestTimeoutSeconds * 1000,
    log,
  });

  let localNodeId = 0;
  const sync = async (): Promise<NodeSyncResult> => {
    const result = await syncNodes(database, serviceId, {
      local: { url: options.publicBase ?? options.fallbackBase, capacity: settings.localNodeCapacity },
      nodes: settings.nodes,
    });
    localNodeId = result.localNodeId;
    for (const change of result.changes) log.info({ localNodeId }, `storage nodes: ${change}`);
    return result;
  };
  await sync();

  const ctx: TokenserverContext = {
    database,
    settings,
    tokens: options.tokens,
    verifier,
    serviceId,
    metricsSecret,
    publicBase: options.publicBase,
    localNodeId: () => localNodeId,
    deleteLocalUser: options.deleteLocalUser,
    log,
  };

  let purging: Promise<number> | undefined;
  const purgeRemote = () =>
    (purging ??= purgeRemoteNodes({ db, tokens: options.tokens, metricsSecret, log, sweepAfterMs: (options.settings.tokenDuration + 60) * 1000 }).finally(() => (purging = undefined)));

  return {
    routes: tokenRoutes(ctx),
    retireUser: (fxaUid) => retireUser(ctx, fxaUid),
    purgeRemote,
    syncNodes: sync,
    get localNodeId() {
      return localNodeId;
    },
  };
}
