import { hawkHeader } from '../crypto/hawk.js';
import type { TokenVerifier } from '../crypto/tokenlib.js';
import type { Db } from '../db/index.js';
import { hashedDeviceId, hashedFxaUid } from './metrics.js';
import type { UserRow } from './users.js';

// Data of storage uids the tokenserver has replaced (new keys) or retired (account deleted):
// on this server's own node it is deleted right after the change (and the node refuses the
// uid's writes from then on); on a remote node the uid is queued in node_purges, and the purge
// job sends that node a Hawk-signed DELETE {node}/1.5/{uid}, retrying with growing pauses.
// A remote node cannot know the uid is retired, so a storage token handed out before the
// change could still write there until it expires: the job deletes once more after that.

const BATCH = 100;
const REQUEST_TIMEOUT_MS = 30_000;
const TOKEN_LIFETIME_SECONDS = 300;
const FIRST_RETRY_MS = 60_000;
const MAX_RETRY_MS = 24 * 3600_000;

/**
 * Queue the remote rows among `rows` (inside the user's transaction); returns the uids on
 * this server's own node, to delete once the transaction has committed. Rows whose node is
 * gone have nowhere to delete from.
 */
export async function queueSuperseded(trx: Db, rows: UserRow[], fxaUid: string, localNodeId: number | undefined, now: number): Promise<number[]> {
  const local: number[] = [];
  for (const row of rows) {
    if (row.nodeid === localNodeId) {
      local.push(row.uid);
    } else if (row.node !== null) {
      await trx
        .insertInto('node_purges')
        .values({ uid: row.uid, node: row.node, fxa_uid: fxaUid, queued_at: now, attempts: 0, next_attempt_at: now })
        .onConflict((oc) => oc.column('uid').doNothing())
        .execute();
    }
  }
  return local;
}

export interface RemotePurgeOptions {
  db: Db;
  /** How long after queueing every storage token for the uid has expired (the final sweep). */
  sweepAfterMs: number;
  tokens: TokenVerifier;
  metricsSecret: string;
  log: { info(obj: object, msg: string): void; warn(obj: object, msg: string): void };
}

/** Ask a storage node to delete everything of `uid`; true when it did (or never had it). */
async function deleteRemotely(options: RemotePurgeOptions, entry: { uid: number; node: string; fxa_uid: string }): Promise<boolean> {
  const hashedUid = hashedFxaUid(options.metricsSecret, entry.fxa_uid);
  const token = options.tokens.sign({
    node: entry.node,
    fxa_kid: '0000000000000-',
    fxa_uid: entry.fxa_uid,
    hashed_device_id: hashedDeviceId(options.metricsSecret, hashedUid),
    hashed_fxa_uid: hashedUid,
    expires: Math.floor(Date.now() / 1000) + TOKEN_LIFETIME_SECONDS,
    uid: entry.uid,
    tokenserver_origin: 'rust',
  });
  const url = new URL(`${entry.node.replace(/\/+$/, '')}/1.5/${entry.uid}`);
  const port = url.port ? Number(url.port) : url.protocol === 'https:' ? 443 : 80;
  const authorization = hawkHeader({ method: 'DELETE', resource: url.pathname + url.search, host: url.hostname, port }, { id: token.id, key: token.key });
  try {
    const res = await fetch(url, { method: 'DELETE', headers: { authorization }, signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
    await res.body?.cancel().catch(() => {});
    if ((res.status >= 200 && res.status < 300) || res.status === 404) return true;
    options.log.warn({ uid: entry.uid, node: entry.node, status: res.status }, 'storage node refused to delete a replaced user');
  } catch (err) {
    options.log.warn({ uid: entry.uid, node: entry.node, reason: (err as Error).message }, 'cannot reach storage node to delete a replaced user');
  }
  return false;
}

/** One run of the purge job over the queue entries that are due; returns how many deletions succeeded. */
export async function purgeRemoteNodes(options: RemotePurgeOptions): Promise<number> {
  const { db } = options;
  const due = await db
    .selectFrom('node_purges')
    .select(['uid', 'node', 'fxa_uid', 'attempts', 'queued_at'])
    .where('next_attempt_at', '<=', Date.now())
    .orderBy('next_attempt_at')
    .limit(BATCH)
    .execute();
  let purged = 0;
  for (const entry of due) {
    const uid = Number(entry.uid);
    if (await deleteRemotely(options, { uid, node: entry.node, fxa_uid: entry.fxa_uid })) {
      purged++;
      const finalSweep = Number(entry.queued_at) + options.sweepAfterMs;
      if (Date.now() < finalSweep) {
        await db.updateTable('node_purges').set({ attempts: 0, next_attempt_at: finalSweep }).where('uid', '=', uid).execute();
      } else {
        await db.deleteFrom('node_purges').where('uid', '=', uid).execute();
      }
    } else {
      const attempts = entry.attempts + 1;
      const pause = Math.min(MAX_RETRY_MS, FIRST_RETRY_MS * 2 ** Math.min(attempts - 1, 20));
      await db.updateTable('node_purges').set({ attempts, next_attempt_at: Date.now() + pause }).where('uid', '=', uid).execute();
    }
  }
  return purged;
}
