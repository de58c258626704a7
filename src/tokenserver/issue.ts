import type { TokenserverSettings } from '../config.js';
import { base64urlNoPad } from '../crypto/base64.js';
import type { TokenVerifier } from '../crypto/tokenlib.js';
import { writeTransaction, type Database } from '../db/index.js';
import { bearerCredential } from './authorization.js';
import { errors, type TokenserverError } from './errors.js';
import { isMaxGeneration, MAX_GENERATION } from './generation.js';
import { parseKeyId } from './keyid.js';
import { userLockKey } from './locks.js';
import { hashedDeviceId, hashedFxaUid } from './metrics.js';
import { queueSuperseded } from './purge.js';
import { checkClaims, getOrCreateUser, peekUser, updateUser, userEmail, type Claims, type UserContext, type UserRow } from './users.js';
import type { AccessTokenVerifier } from './verifier.js';

// GET /1.0/{application}/{version}: from the request's headers to a storage token, in
// syncstorage-rs's order (sync-storage.md 1.3-1.12): Authorization, the access token, X-KeyID,
// application and version, the user's row (found or allocated), the query, the consistency
// checks, then the update and the token.

export interface TokenserverContext {
  database: Database;
  settings: TokenserverSettings;
  tokens: TokenVerifier;
  verifier: AccessTokenVerifier;
  serviceId: number;
  metricsSecret: string;
  publicBase: string | undefined;
  /** The nodes row of this server's own storage (set at start-up). */
  localNodeId: () => number | undefined;
  deleteLocalUser: (uid: number) => Promise<void>;
  log: { info(obj: object, msg: string): void; warn(obj: object, msg: string): void; error(obj: object, msg: string): void };
}

export interface TokenRequest {
  authorization: string | string[] | undefined;
  keyId: string | string[] | undefined;
  clientState: string | string[] | undefined;
  application: string;
  version: string;
  /** The `duration` query parameter as parsed (an array when repeated). */
  duration: unknown;
  /** protocol://host of the request, for this server's own node when no public URL is set. */
  origin: string | undefined;
}

export interface TokenResponse {
  id: string;
  key: string;
  uid: number;
  api_endpoint: string;
  duration: number;
  hashalg: 'sha256';
  hashed_fxa_uid: string;
  node_type: string;
}

/** 'invalid' when the query cannot be read; undefined when no usable duration was asked for. */
function requestedDuration(value: unknown, max: number): number | 'invalid' | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string') return 'invalid';
  if (!/^\+?[0-9]+$/.test(value)) return undefined;
  const n = Number(value);
  return n <= max ? n : undefined;
}

/** `<13-digit keys_changed_at (or generation)>-<base64url of the client-state bytes>`. */
function fxaKid(timestamp: number, clientState: string): string {
  const digits = isMaxGeneration(timestamp) ? MAX_GENERATION.toString() : String(Math.trunc(timestamp));
  return `${digits.padStart(13, '0')}-${base64urlNoPad(Buffer.from(clientState, 'hex'))}`;
}

type Outcome = { error: TokenserverError; local: number[] } | { user: UserRow & { node: string }; uid: number; generation: number; keysChangedAt: number | null; local: number[] };

export async function issueToken(ctx: TokenserverContext, rq: TokenRequest): Promise<TokenResponse> {
  const credential = bearerCredential(rq.authorization);
  const who = await ctx.verifier.verify(credential);
  const keyId = parseKeyId(rq.keyId, rq.clientState);
  if (rq.application !== 'sync') throw errors.unknownApplication();
  if (rq.version !== '1.5') throw errors.unknownVersion(rq.version);

  const { settings } = ctx;
  const email = userEmail(who.fxaUid, settings.fxaEmailDomain);
  const claims: Claims = { generation: who.generation, keysChangedAt: keyId.keysChangedAt, clientState: keyId.clientState };
  const users: UserContext = { serviceId: ctx.serviceId, email, allowNewUsers: settings.allowNewUsers, releaseRate: settings.nodeCapacityReleaseRate };
  const duration = requestedDuration(rq.duration, settings.tokenDuration);
  const localNodeId = ctx.localNodeId();

  // Most requests change nothing and are answered from one read (peekUser). The others run in
  // one transaction under the user's lock; its checks answer with an error but still commit
  // what finding the user repaired or allocated, as syncstorage-rs does.
  const peeked = await peekUser(ctx.database.db, users, claims);
  let outcome: Outcome;
  if (peeked) {
    const error = duration === 'invalid' ? errors.invalidQuery() : peeked.error;
    outcome = error
      ? { error, local: [] }
      : { user: peeked.user, uid: peeked.user.uid, generation: peeked.user.generation, keysChangedAt: peeked.user.keys_changed_at, local: [] };
  } else {
    outcome = await writeTransaction<Outcome>(ctx.database, userLockKey(email), async (trx) => {
      const found = await getOrCreateUser(trx, users, claims);
      const now = Date.now();
      const local = await queueSuperseded(trx, found.superseded, who.fxaUid, localNodeId, now);
      const error = duration === 'invalid' ? errors.invalidQuery() : checkClaims(claims, found.user, found.oldClientStates);
      if (error) return { error, local };
      const updated = await updateUser(trx, users, claims, found.user);
      local.push(...(await queueSuperseded(trx, updated.superseded, who.fxaUid, localNodeId, now)));
      return { user: found.user, uid: updated.uid, generation: updated.generation, keysChangedAt: updated.keysChangedAt, local };
    });
  }
  await deleteLocalData(ctx, outcome.local);
  if ('error' in outcome) throw outcome.error;

  const node = outcome.user.nodeid === localNodeId && ctx.publicBase === undefined && rq.origin ? rq.origin : outcome.user.node;
  const lifetime = duration === undefined || duration === 'invalid' ? settings.tokenDuration : duration;
  const hashedUid = hashedFxaUid(ctx.metricsSecret, who.fxaUid);
  const token = ctx.tokens.sign({
    node,
    fxa_kid: fxaKid(outcome.keysChangedAt ?? outcome.generation, keyId.clientState),
    fxa_uid: who.fxaUid,
    hashed_device_id: hashedDeviceId(ctx.metricsSecret, hashedUid),
    hashed_fxa_uid: hashedUid,
    expires: Math.floor(Date.now() / 1000) + lifetime,
    uid: outcome.uid,
    tokenserver_origin: 'rust',
  });
  return {
    id: token.id,
    key: token.key,
    uid: outcome.uid,
    api_endpoint: `${node}/1.5/${outcome.uid}`,
    duration: lifetime,
    hashalg: 'sha256',
    hashed_fxa_uid: hashedUid,
    node_type: ctx.database.engine,
  };
}

/** Delete replaced uids' data on this server's own storage (after the user's transaction committed). */
export async function deleteLocalData(ctx: Pick<TokenserverContext, 'deleteLocalUser' | 'log'>, uids: number[]): Promise<void> {
  for (const uid of uids) {
    try {
      await ctx.deleteLocalUser(uid);
      ctx.log.info({ uid }, 'storage of a replaced user deleted');
    } catch (err) {
      ctx.log.error({ uid, err }, 'cannot delete the storage of a replaced user');
    }
  }
}
