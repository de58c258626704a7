import type { Db } from '../db/index.js';
import type { NodesTable } from '../db/schema.js';

// For operators (`foxden nodes`): the storage nodes with their load, and the switches
// syncstorage-rs operators know: `downed` and `backoff` both keep new users away (a downed
// node also gets no capacity top-ups); users already on the node stay there.

export interface NodeStatus {
  id: number;
  node: string;
  /** Users assigned (current_load) and how many the node takes. */
  load: number;
  capacity: number;
  available: number;
  downed: boolean;
  backoff: boolean;
}

export async function listNodes(db: Db): Promise<NodeStatus[]> {
  const rows = await db
    .selectFrom('nodes')
    .innerJoin('services', 'services.id', 'nodes.service')
    .select(['nodes.id', 'nodes.node', 'nodes.current_load', 'nodes.capacity', 'nodes.available', 'nodes.downed', 'nodes.backoff'])
    .where('services.service', '=', 'sync-1.5')
    .orderBy('nodes.id')
    .execute();
  return rows.map((r) => ({
    id: Number(r.id),
    node: r.node,
    load: r.current_load,
    capacity: r.capacity,
    available: r.available,
    downed: r.downed !== 0,
    backoff: r.backoff !== 0,
  }));
}

export interface NodeChanges {
  downed?: boolean;
  backoff?: boolean;
  capacity?: number;
}

/** Change a node found by its URL; false when there is no such node. */
export async function updateNode(db: Db, url: string, changes: NodeChanges): Promise<boolean> {
  const set: Partial<Pick<NodesTable, 'downed' | 'backoff' | 'capacity'>> = {};
  if (changes.downed !== undefined) set.downed = changes.downed ? 1 : 0;
  if (changes.backoff !== undefined) set.backoff = changes.backoff ? 1 : 0;
  if (changes.capacity !== undefined) set.capacity = changes.capacity;
  const node = url.replace(/\/+$/, '');
  const found = await db.selectFrom('nodes').select('id').where('node', '=', node).executeTakeFirst();
  if (!found) return false;
  if (Object.keys(set).length > 0) await db.updateTable('nodes').set(set).where('id', '=', found.id).execute();
  return true;
}
