import { writeTransaction, type Database, type Db } from '../db/index.js';
import { errors } from './errors.js';
import { NODE_SYNC_LOCK_KEY } from './locks.js';

// Storage nodes (sync-storage.md 1.10): choosing one for a new user, releasing capacity when
// all are full, and keeping the configured nodes in the table.

export const SYNC_SERVICE = 'sync-1.5';
const SYNC_PATTERN = '{node}/1.5/{uid}';
/** foxden_secrets entry naming the nodes row of this server's own storage. */
export const LOCAL_NODE_SECRET = 'local_node_id';
const RELEASE_ROUNDS = 5;

export interface NodeRow {
  id: number;
  node: string;
  available: number;
  current_load: number;
  capacity: number;
}

/** The id of the sync-1.5 service row, inserted when missing. */
export async function ensureService(db: Db): Promise<number> {
  const find = () => db.selectFrom('services').select('id').where('service', '=', SYNC_SERVICE).executeTakeFirst();
  const existing = await find();
  if (existing) return Number(existing.id);
  await db
    .insertInto('services')
    .values({ service: SYNC_SERVICE, pattern: SYNC_PATTERN })
    .onConflict((oc) => oc.column('service').doNothing())
    .execute();
  return Number((await find())!.id);
}

/**
 * syncstorage-rs ranks candidates by ln(current_load) / ln(capacity), an empty node first.
 * Ties go to the node with more room, then the older row (sync-storage.md 1.10).
 */
function rank(a: NodeRow, b: NodeRow): number {
  const score = (n: NodeRow) => (n.current_load <= 0 ? -1 : Math.log(n.current_load) / Math.log(n.capacity));
  return score(a) - score(b) || b.available - a.available || a.id - b.id;
}

async function candidates(trx: Db, serviceId: number): Promise<NodeRow[]> {
  const rows = await trx
    .selectFrom('nodes')
    .select(['id', 'node', 'available', 'current_load', 'capacity'])
    .where('service', '=', serviceId)
    .where('available', '>', 0)
    .whereRef('capacity', '>', 'current_load')
    .where('downed', '=', 0)
    .where('backoff', '=', 0)
    .execute();
  return rows.map((r) => ({ ...r, id: Number(r.id) }));
}

/**
 * Give full nodes new room: available = min(capacity * rate, capacity - current_load), at
 * least one slot. Nodes in backoff are topped up too; downed ones are not. Returns how many
 * nodes changed.
 */
export async function releaseCapacity(trx: Db, serviceId: number, rate: number): Promise<number> {
  const full = await trx
    .selectFrom('nodes')
    .select(['id', 'current_load', 'capacity'])
    .where('service', '=', serviceId)
    .where('available', '<=', 0)
    .whereRef('capacity', '>', 'current_load')
    .where('downed', '=', 0)
    .execute();
  for (const n of full) {
    const room = Math.min(Math.max(1, Math.round(n.capacity * rate)), n.capacity - n.current_load);
    await trx.updateTable('nodes').set({ available: room }).where('id', '=', n.id).execute();
  }
  return full.length;
}

/** Choose the node for a new user row and count the user on it; 503 when none has room. */
export async function assignNode(trx: Db, serviceId: number, releaseRate: number): Promise<NodeRow> {
  let found = await candidates(trx, serviceId);
  for (let round = 0; found.length === 0 && round < RELEASE_ROUNDS; round++) {
    if ((await releaseCapacity(trx, serviceId, releaseRate)) === 0) break;
    found = await candidates(trx, serviceId);
  }
  if (found.length === 0) throw errors.noNode();
  const node = found.sort(rank)[0]!;
  await trx
    .updateTable('nodes')
    .set((eb) => ({
      current_load: eb('current_load', '+', 1),
      available: eb.case().when('available', '>', 0).then(eb('available', '-', 1)).else(0).end(),
    }))
    .where('id', '=', node.id)
    .execute();
  return node;
}

export interface NodeConfig {
  /** This server's own storage: its public URL (or fallback) and capacity. */
  local: { url: string; capacity: number };
  /** FOXDEN_SYNC_NODES. */
  nodes: { url: string; capacity: number }[];
}

export interface NodeSyncResult {
  localNodeId: number;
  /** What changed, for the log. */
  changes: string[];
}

async function nodeByUrl(trx: Db, serviceId: number, url: string) {
  return trx.selectFrom('nodes').select(['id', 'node', 'capacity']).where('service', '=', serviceId).where('node', '=', url).executeTakeFirst();
}

async function insertNode(trx: Db, serviceId: number, url: string, capacity: number): Promise<number> {
  const row = await trx
    .insertInto('nodes')
    .values({ service: serviceId, node: url, available: capacity, current_load: 0, capacity, downed: 0, backoff: 0 })
    .returning('id')
    .executeTakeFirstOrThrow();
  return Number(row.id);
}

/**
 * Bring the nodes table in line with the configuration, at start-up:
 * - this server's own node is the row remembered in foxden_secrets; when the public URL
 *   changed, that row is renamed, so its users keep their data. Without a remembered row, the
 *   row with the URL is adopted, or one is inserted (available = capacity). Its capacity
 *   follows FOXDEN_NODE_CAPACITY.
 * - each FOXDEN_SYNC_NODES entry is inserted when missing (available = capacity), or has its
 *   capacity updated.
 * Nodes that are no longer configured stay as they are: users live on them.
 */
export async function syncNodes(database: Database, serviceId: number, config: NodeConfig): Promise<NodeSyncResult> {
  return writeTransaction(database, NODE_SYNC_LOCK_KEY, async (trx) => {
    const changes: string[] = [];
    const { url, capacity } = config.local;
    const remembered = await trx.selectFrom('foxden_secrets').select('value').where('name', '=', LOCAL_NODE_SECRET).executeTakeFirst();
    const rememberedId = remembered && /^\d+$/.test(remembered.value) ? Number(remembered.value) : undefined;
    const previous =
      rememberedId === undefined
        ? undefined
        : await trx.selectFrom('nodes').select(['id', 'node', 'capacity']).where('id', '=', rememberedId).where('service', '=', serviceId).executeTakeFirst();
    const byUrl = await nodeByUrl(trx, serviceId, url);

    let localNodeId: number;
    if (previous && previous.node !== url && !byUrl) {
      await trx.updateTable('nodes').set({ node: url }).where('id', '=', previous.id).execute();
      changes.push(`renamed this server's node ${previous.node} to ${url}`);
      localNodeId = Number(previous.id);
    } else if (byUrl) {
      if (previous && Number(previous.id) !== Number(byUrl.id)) {
        changes.push(`this server's node is now the existing row for ${url}; users of ${previous.node} stay there`);
      }
      localNodeId = Number(byUrl.id);
    } else if (previous) {
      localNodeId = Number(previous.id);
    } else {
      localNodeId = await insertNode(trx, serviceId, url, capacity);
      changes.push(`added this server's node ${url}`);
    }
    await trx.updateTable('nodes').set({ capacity }).where('id', '=', localNodeId).where('capacity', '<>', capacity).execute();
    if (String(localNodeId) !== remembered?.value) {
      await trx
        .insertInto('foxden_secrets')
        .values({ name: LOCAL_NODE_SECRET, value: String(localNodeId), created_at: Date.now() })
        .onConflict((oc) => oc.column('name').doUpdateSet({ value: String(localNodeId) }))
        .execute();
    }

    for (const node of config.nodes) {
      if (node.url === url) continue;
      const existing = await nodeByUrl(trx, serviceId, node.url);
      if (!existing) {
        await insertNode(trx, serviceId, node.url, node.capacity);
        changes.push(`added node ${node.url}`);
      } else if (existing.capacity !== node.capacity) {
        await trx.updateTable('nodes').set({ capacity: node.capacity }).where('id', '=', existing.id).execute();
        changes.push(`capacity of ${node.url} set to ${node.capacity}`);
      }
    }
    return { localNodeId, changes };
  });
}
