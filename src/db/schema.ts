import type { Generated } from 'kysely';

// Table types. Every time is integer milliseconds since the epoch; TTLs are seconds.

export interface SecretsTable {
  name: string;
  value: string;
  created_at: number;
}

export interface CollectionsTable {
  collection_id: Generated<number>;
  name: string;
}

/** One row per storage user: the storage-wide last-modified time, which never goes backwards. */
export interface UserStorageTable {
  user_id: number;
  storage_modified_ms: number;
}

export interface UserCollectionsTable {
  user_id: number;
  collection_id: number;
  modified_ms: number;
  /** Payload bytes of the rows in bsos (expired rows included until purged); used for quota. */
  total_bytes: number;
}

export interface BsosTable {
  user_id: number;
  collection_id: number;
  bso_id: string;
  sortindex: number | null;
  payload: string;
  payload_size: number;
  modified_ms: number;
  expiry_ms: number;
}

export interface BatchesTable {
  user_id: number;
  collection_id: number;
  batch_id: string;
  expiry_ms: number;
}

/** Staged items; a null column means "not sent". ttl_s = -1 means an explicit null ttl. */
export interface BatchBsosTable {
  user_id: number;
  collection_id: number;
  batch_id: string;
  bso_id: string;
  sortindex: number | null;
  payload: string | null;
  payload_size: number | null;
  ttl_s: number | null;
}

export interface Schema {
  foxden_secrets: SecretsTable;
  collections: CollectionsTable;
  user_storage: UserStorageTable;
  user_collections: UserCollectionsTable;
  bsos: BsosTable;
  batches: BatchesTable;
  batch_bsos: BatchBsosTable;
}
