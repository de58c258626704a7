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
  /** Set when the tokenserver replaced or retired this uid: its data is gone and writes are refused. */
  retired_at: number | null;
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

// Accounts (fxa-auth.md 2.1). Binary values are lower-case hex; booleans are 0/1 integers so
// both engines read them the same way.

export interface AccountsTable {
  uid: string;
  /** As typed at sign-up: the salt of the client's password stretching. */
  email: string;
  /** Lower-cased, for lookup. */
  normalized_email: string;
  email_verified: number;
  auth_salt: string;
  verify_hash: string;
  wrap_wrap_kb: string;
  ka: string;
  verifier_version: number;
  verifier_set_at: number;
  keys_changed_at: number;
  profile_changed_at: number;
  created_at: number;
  locale: string | null;
  display_name: string | null;
}

export interface SessionTokensTable {
  token_id: string;
  uid: string;
  auth_key: string;
  created_at: number;
  last_access_at: number;
  /** Seconds, as OAuth's auth_at. */
  auth_at: number;
  user_agent: string;
  /** Client address at sign-in (for the new-device confirmation policy). */
  ip: string;
  /** Null once verified; otherwise the id that the confirmation code and key-fetch token share. */
  verification_id: string | null;
  /** 'email-otp' while a code is pending. */
  verification_method: string | null;
  /** 'signup' or 'login': which mail the pending code came in. */
  verification_reason: string | null;
  verified_at: number | null;
}

export interface KeyFetchTokensTable {
  token_id: string;
  uid: string;
  auth_key: string;
  /** The /account/keys bundle, computed when the password was last seen. */
  key_bundle: string;
  verification_id: string | null;
  created_at: number;
}

/** accountReset, passwordChange and passwordForgot tokens. */
export interface AccountTokensTable {
  token_id: string;
  kind: 'accountReset' | 'passwordChange' | 'passwordForgot';
  uid: string;
  auth_key: string;
  created_at: number;
  expires_at: number;
  /** passwordForgot: SHA-256 of the 32-hex passCode; attempts left. */
  code_hash: string | null;
  tries: number;
}

/** One-time codes mailed to the user, kept hashed. */
export interface CodesTable {
  uid: string;
  /** 'signup' | 'login' | 'unblock' | 'reset' */
  kind: string;
  /** Session token id the code confirms, or '' for account-wide codes. */
  target: string;
  code_hash: string;
  expires_at: number;
  attempts: number;
}

export interface DevicesTable {
  id: string;
  uid: string;
  session_token_id: string | null;
  refresh_token_id: string | null;
  name: string;
  type: string;
  created_at: number;
  push_callback: string | null;
  push_public_key: string | null;
  push_auth_key: string | null;
  push_endpoint_expired: number;
  /** JSON object of command name -> string. */
  available_commands: string;
  /** Index of the last command queued for this device. */
  command_index: number;
}

export interface DeviceCommandsTable {
  device_id: string;
  idx: number;
  uid: string;
  command: string;
  /** JSON. */
  payload: string;
  sender: string | null;
  created_at: number;
  expires_at: number;
}

/** OAuth refresh tokens, stored as SHA-256 of the token. */
export interface RefreshTokensTable {
  token_hash: string;
  uid: string;
  client_id: string;
  scope: string;
  created_at: number;
  last_used_at: number;
}

/** Fixed-window counters for rate limits, shared by every process on the database. */
export interface RateLimitsTable {
  key: string;
  window_start: number;
  count: number;
  blocked_until: number;
}

export interface InvitesTable {
  code_hash: string;
  email: string | null;
  created_at: number;
  expires_at: number;
  used_at: number | null;
}

/** OAuth authorization codes (fxa-auth.md 5.2), stored as SHA-256 of the code. */
export interface OauthCodesTable {
  code_hash: string;
  client_id: string;
  uid: string;
  /** Space-separated. */
  scope: string;
  /** 1 = access_type offline: the code also yields a refresh token. */
  offline: number;
  code_challenge: string | null;
  keys_jwe: string | null;
  session_token_id: string | null;
  /** Seconds. */
  auth_at: number;
  created_at: number;
  expires_at: number;
}

/** Uploaded profile pictures, already resized; one per account. */
export interface AvatarsTable {
  uid: string;
  /** 32 hex, public: the picture's URL names it. */
  id: string;
  content_type: string;
  image: Buffer;
  created_at: number;
}

// Tokenserver tables, named and laid out as syncstorage-rs's (sync-storage.md 4.5).

export interface ServicesTable {
  id: Generated<number>;
  service: string;
  pattern: string;
}

export interface NodesTable {
  id: Generated<number>;
  service: number;
  node: string;
  available: number;
  current_load: number;
  capacity: number;
  downed: number;
  backoff: number;
}

export interface UsersTable {
  uid: Generated<number>;
  service: number;
  /** `<fxa uid>@<FOXDEN_FXA_EMAIL_DOMAIN>` */
  email: string;
  generation: number;
  client_state: string;
  created_at: number;
  replaced_at: number | null;
  nodeid: number;
  keys_changed_at: number | null;
}

/** Data of a replaced or retired storage uid still to be deleted on a remote node. */
export interface NodePurgesTable {
  uid: number;
  node: string;
  fxa_uid: string;
  queued_at: number;
  attempts: number;
  next_attempt_at: number;
}

export interface Schema {
  oauth_codes: OauthCodesTable;
  avatars: AvatarsTable;
  services: ServicesTable;
  nodes: NodesTable;
  users: UsersTable;
  node_purges: NodePurgesTable;
  accounts: AccountsTable;
  session_tokens: SessionTokensTable;
  key_fetch_tokens: KeyFetchTokensTable;
  account_tokens: AccountTokensTable;
  codes: CodesTable;
  devices: DevicesTable;
  device_commands: DeviceCommandsTable;
  refresh_tokens: RefreshTokensTable;
  rate_limits: RateLimitsTable;
  invites: InvitesTable;
  foxden_secrets: SecretsTable;
  collections: CollectionsTable;
  user_storage: UserStorageTable;
  user_collections: UserCollectionsTable;
  bsos: BsosTable;
  batches: BatchesTable;
  batch_bsos: BatchBsosTable;
}
