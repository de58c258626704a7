import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { createRequire } from 'node:module';
// Zod's v3 API: the same validation at a fifth of the memory of the v4 one.
import { z } from 'zod/v3';
import { ClientConfigError, ClientRegistry } from './oauth/clients.js';

// One typed configuration: FOXDEN_* environment variables over an optional YAML (or JSON)
// file that uses the same keys. The environment wins.

const int = (min: number, max = Number.MAX_SAFE_INTEGER) =>
  z.coerce
    .number({ invalid_type_error: 'must be a whole number' })
    .int({ message: 'must be a whole number' })
    .min(min, { message: `must be at least ${min}` })
    .max(max, { message: `must be at most ${max}` });

const publicUrl = z
  .string()
  .url({ message: 'must be an absolute http(s) URL such as https://sync.example.com' })
  .refine((v) => /^https?:\/\//i.test(v), { message: 'must start with http:// or https://' })
  .refine((v) => !/[?#]/.test(v), { message: 'must not have a query or fragment' })
  .transform((v) => v.replace(/\/+$/, ''));

const databaseUrl = z
  .string()
  .refine((v) => /^postgres(ql)?:\/\//i.test(v), { message: 'must be a postgres:// URL (leave it unset for SQLite)' });

const schema = z.object({
  FOXDEN_PUBLIC_URL: publicUrl.optional(),
  FOXDEN_HOST: z.string().min(1).default('127.0.0.1'),
  FOXDEN_PORT: int(0, 65535).default(8000),
  FOXDEN_DATA_DIR: z.string().min(1).default('./data'),
  FOXDEN_DATABASE_URL: databaseUrl.optional(),
  FOXDEN_LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  FOXDEN_SYNC_MASTER_SECRET: z
    .string()
    .optional()
    .transform((v) => (v ?? '').split(',').map((s) => s.trim()).filter((s) => s.length > 0))
    .refine((list) => list.every((s) => s.length >= 16), {
      message: 'each comma-separated secret must be at least 16 characters',
    }),
  FOXDEN_HAWK_SKEW_SECONDS: int(1, 7 * 24 * 3600).default(900),
  FOXDEN_EXPIRED_TOKEN_GRACE_SECONDS: int(0, 7 * 24 * 3600).default(7200),
  FOXDEN_STORAGE_MAX_POST_RECORDS: int(1, 100_000).default(100),
  FOXDEN_STORAGE_MAX_POST_BYTES: int(1024).default(2_621_440),
  FOXDEN_STORAGE_MAX_RECORD_PAYLOAD_BYTES: int(1024).default(2_621_440),
  FOXDEN_STORAGE_MAX_REQUEST_BYTES: int(1024).default(2_625_536),
  FOXDEN_STORAGE_MAX_TOTAL_RECORDS: int(1).default(10_000),
  FOXDEN_STORAGE_MAX_TOTAL_BYTES: int(1024).default(262_144_000),
  FOXDEN_STORAGE_QUOTA_BYTES: int(0).default(0),
  FOXDEN_STORAGE_PURGE_INTERVAL_SECONDS: int(0, 86_400 * 7).default(3600),
  FOXDEN_SMTP_URL: z
    .string()
    .refine((v) => /^smtps?:\/\/[^/?#]+/i.test(v), { message: 'must be an smtp://host:port or smtps://host:port URL' })
    .optional(),
  FOXDEN_MAIL_FROM: z.string().min(3).optional(),
  FOXDEN_REGISTRATION: z
    .enum(['first', 'open', 'closed', 'invite', 'allowlist'], {
      errorMap: () => ({ message: 'must be first, open, closed, invite or allowlist' }),
    })
    .default('first'),
  FOXDEN_REGISTRATION_ALLOWLIST: z
    .string()
    .optional()
    .transform((v) => (v ?? '').split(',').map((s) => s.trim().toLowerCase()).filter((s) => s.length > 0))
    .refine((list) => list.every((s) => /^[^@\s]*@[^@\s]+$/.test(s)), {
      message: 'must be a comma-separated list of e-mail addresses and @domains',
    }),
  FOXDEN_SIGNIN_CONFIRMATION: z
    .enum(['always', 'new-device', 'never'], { errorMap: () => ({ message: 'must be always, new-device or never' }) })
    .default('new-device'),
  FOXDEN_RATE_LIMITS: z.enum(['on', 'off'], { errorMap: () => ({ message: 'must be on or off' }) }).default('on'),
  FOXDEN_SCRYPT_CONCURRENCY: int(0, 64).default(0),
  FOXDEN_TRUSTED_PROXIES: z.string().optional(),
  FOXDEN_ACCOUNTS: z.enum(['on', 'off'], { errorMap: () => ({ message: 'must be on or off' }) }).default('on'),
  FOXDEN_OAUTH_CLIENTS: z.union([z.string(), z.array(z.unknown())]).optional(),
  FOXDEN_FXA_VERIFY_URL: publicUrl.optional(),
  FOXDEN_FXA_JWKS_URL: publicUrl.optional(),
  FOXDEN_FXA_OAUTH_REQUEST_TIMEOUT: int(1, 300).default(10),
  FOXDEN_FXA_EMAIL_DOMAIN: z
    .string()
    .regex(/^[a-z0-9.-]+$/i, { message: 'must be a domain name such as api.accounts.firefox.com' })
    .optional(),
  FOXDEN_FXA_METRICS_HASH_SECRET: z.string().min(1).optional(),
  FOXDEN_TOKEN_DURATION: int(60, 86_400).default(3600),
  FOXDEN_NODE_CAPACITY_RELEASE_RATE: z.coerce
    .number({ invalid_type_error: 'must be a number between 0 and 1' })
    .gt(0, { message: 'must be above 0' })
    .max(1, { message: 'must be at most 1' })
    .default(0.1),
  FOXDEN_ALLOW_NEW_USERS: z
    .enum(['true', 'false', 'on', 'off', '1', '0'], { errorMap: () => ({ message: 'must be true or false' }) })
    .default('true'),
  FOXDEN_SYNC_NODES: z.string().optional(),
  FOXDEN_NODE_CAPACITY: int(1).default(100_000),
});

export type RawConfig = z.input<typeof schema>;

export interface StorageLimits {
  maxPostRecords: number;
  maxPostBytes: number;
  maxRecordPayloadBytes: number;
  maxRequestBytes: number;
  maxTotalRecords: number;
  maxTotalBytes: number;
  /** 0 = no quota. */
  quotaBytes: number;
}

export interface Config {
  /** Origin (and optional path prefix) clients use; undefined = take host and port from each request. */
  publicUrl: URL | undefined;
  host: string;
  port: number;
  dataDir: string;
  /** postgres:// URL, or undefined for SQLite under dataDir. */
  databaseUrl: string | undefined;
  logLevel: string;
  /** Configured master secrets, oldest first; empty = generated and kept in the database. */
  syncMasterSecrets: string[];
  hawkSkewSeconds: number;
  expiredTokenGraceSeconds: number;
  storage: StorageLimits;
  purgeIntervalSeconds: number;
  accounts: AccountsSettings;
  /** Fastify trustProxy: addresses/CIDRs of proxies whose X-Forwarded-For is believed, or a hop count. */
  trustedProxies: string[] | number | undefined;
  /** false = no local accounts, OAuth, profile or discovery; the tokenserver trusts an external accounts server. */
  accountsEnabled: boolean;
  /** Clients added to (or replacing, by id) the built-in registry; validated by src/oauth/clients.ts. */
  oauthClients: unknown[];
  tokenserver: TokenserverSettings;
}

/** Named as syncstorage-rs names them (sync-storage.md 1.15). */
export interface TokenserverSettings {
  /** Seconds a storage token lives. */
  tokenDuration: number;
  /** users.email is `<fxa uid>@<this>`. */
  fxaEmailDomain: string;
  nodeCapacityReleaseRate: number;
  allowNewUsers: boolean;
  /** External accounts server (Method 1): its full verify endpoint, and optionally its JWKS. */
  fxaVerifyUrl: string | undefined;
  fxaJwksUrl: string | undefined;
  fxaRequestTimeoutSeconds: number;
  /** Key of hashed_fxa_uid; undefined = generated and kept in the database. */
  metricsHashSecret: string | undefined;
  /** Storage nodes users are spread over; empty = this server alone. */
  nodes: { url: string; capacity: number }[];
  /** Capacity of this server's own node. */
  localNodeCapacity: number;
}

export interface AccountsSettings {
  smtpUrl: string | undefined;
  mailFrom: string;
  registration: 'first' | 'open' | 'closed' | 'invite' | 'allowlist';
  /** Lower-cased addresses and @domains. */
  registrationAllowlist: string[];
  signinConfirmation: 'always' | 'new-device' | 'never';
  rateLimits: boolean;
  /** 0 = choose from the core count. */
  scryptConcurrency: number;
}

export class ConfigError extends Error {}

export function configKeys(): string[] {
  return Object.keys(schema.shape);
}

function readConfigFile(path: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError(`cannot read config file ${path}: ${(err as Error).message}`);
  }
  let data: unknown;
  try {
    // Loaded only when a file is given; most installs configure by environment alone.
    const { parse } = createRequire(import.meta.url)('yaml') as typeof import('yaml');
    data = parse(text);
  } catch (err) {
    throw new ConfigError(`config file ${path} is not valid YAML or JSON: ${(err as Error).message}`);
  }
  if (data === null || data === undefined) return {};
  if (typeof data !== 'object' || Array.isArray(data)) {
    throw new ConfigError(`config file ${path} must hold a mapping of FOXDEN_* keys`);
  }
  const known = new Set(configKeys());
  for (const key of Object.keys(data)) {
    if (!known.has(key)) {
      throw new ConfigError(`config file ${path}: unknown key ${key} (allowed: ${[...known].join(', ')})`);
    }
  }
  return Object.fromEntries(
    Object.entries(data as Record<string, unknown>).map(([k, v]) => [k, typeof v === 'number' ? String(v) : v]),
  );
}

/**
 * Build the configuration. `file` (or FOXDEN_CONFIG) names an optional YAML/JSON file;
 * `env` defaults to process.env. Throws ConfigError naming the key and what it allows.
 */
export function loadConfig(options: { env?: NodeJS.ProcessEnv; file?: string; overrides?: RawConfig } = {}): Config {
  const env = options.env ?? process.env;
  const filePath = options.file ?? env.FOXDEN_CONFIG;
  const fromFile = filePath ? readConfigFile(resolve(filePath)) : {};
  const fromEnv = Object.fromEntries(
    configKeys()
      .filter((k) => env[k] !== undefined && env[k] !== '')
      .map((k) => [k, env[k]]),
  );
  const merged = { ...fromFile, ...fromEnv, ...options.overrides };
  const result = schema.safeParse(merged);
  if (!result.success) {
    const lines = result.error.issues.map((issue) => {
      const key = issue.path.join('.') || '(config)';
      const value = (merged as Record<string, unknown>)[key];
      return `${key}=${JSON.stringify(value)}: ${issue.message}`;
    });
    throw new ConfigError(`invalid configuration:\n  ${lines.join('\n  ')}`);
  }
  const c = result.data;
  const storage: StorageLimits = {
    maxPostRecords: c.FOXDEN_STORAGE_MAX_POST_RECORDS,
    maxPostBytes: c.FOXDEN_STORAGE_MAX_POST_BYTES,
    maxRecordPayloadBytes: c.FOXDEN_STORAGE_MAX_RECORD_PAYLOAD_BYTES,
    maxRequestBytes: c.FOXDEN_STORAGE_MAX_REQUEST_BYTES,
    maxTotalRecords: c.FOXDEN_STORAGE_MAX_TOTAL_RECORDS,
    maxTotalBytes: c.FOXDEN_STORAGE_MAX_TOTAL_BYTES,
    quotaBytes: c.FOXDEN_STORAGE_QUOTA_BYTES,
  };
  if (storage.maxRequestBytes < storage.maxPostBytes) {
    throw new ConfigError(
      `invalid configuration:\n  FOXDEN_STORAGE_MAX_REQUEST_BYTES=${storage.maxRequestBytes}: must be at least FOXDEN_STORAGE_MAX_POST_BYTES (${storage.maxPostBytes}) so a full POST fits`,
    );
  }
  const config: Config = {
    publicUrl: c.FOXDEN_PUBLIC_URL ? new URL(c.FOXDEN_PUBLIC_URL) : undefined,
    host: c.FOXDEN_HOST,
    port: c.FOXDEN_PORT,
    dataDir: resolve(c.FOXDEN_DATA_DIR),
    databaseUrl: c.FOXDEN_DATABASE_URL,
    logLevel: c.FOXDEN_LOG_LEVEL,
    syncMasterSecrets: c.FOXDEN_SYNC_MASTER_SECRET,
    hawkSkewSeconds: c.FOXDEN_HAWK_SKEW_SECONDS,
    expiredTokenGraceSeconds: c.FOXDEN_EXPIRED_TOKEN_GRACE_SECONDS,
    storage,
    purgeIntervalSeconds: c.FOXDEN_STORAGE_PURGE_INTERVAL_SECONDS,
    accounts: {
      smtpUrl: c.FOXDEN_SMTP_URL,
      mailFrom: c.FOXDEN_MAIL_FROM ?? `Foxden <foxden@${c.FOXDEN_PUBLIC_URL ? new URL(c.FOXDEN_PUBLIC_URL).hostname : 'localhost'}>`,
      registration: c.FOXDEN_REGISTRATION,
      registrationAllowlist: c.FOXDEN_REGISTRATION_ALLOWLIST,
      signinConfirmation: c.FOXDEN_SIGNIN_CONFIRMATION,
      rateLimits: c.FOXDEN_RATE_LIMITS === 'on',
      scryptConcurrency: c.FOXDEN_SCRYPT_CONCURRENCY,
    },
    trustedProxies: trustedProxies(c.FOXDEN_TRUSTED_PROXIES),
    accountsEnabled: c.FOXDEN_ACCOUNTS === 'on',
    oauthClients: oauthClients(c.FOXDEN_OAUTH_CLIENTS),
    tokenserver: {
      tokenDuration: c.FOXDEN_TOKEN_DURATION,
      fxaEmailDomain:
        c.FOXDEN_FXA_EMAIL_DOMAIN ??
        (c.FOXDEN_FXA_VERIFY_URL ? 'api.accounts.firefox.com' : c.FOXDEN_PUBLIC_URL ? new URL(c.FOXDEN_PUBLIC_URL).hostname : 'localhost'),
      nodeCapacityReleaseRate: c.FOXDEN_NODE_CAPACITY_RELEASE_RATE,
      allowNewUsers: ['true', 'on', '1'].includes(c.FOXDEN_ALLOW_NEW_USERS),
      fxaVerifyUrl: c.FOXDEN_FXA_VERIFY_URL,
      fxaJwksUrl: c.FOXDEN_FXA_JWKS_URL,
      fxaRequestTimeoutSeconds: c.FOXDEN_FXA_OAUTH_REQUEST_TIMEOUT,
      metricsHashSecret: c.FOXDEN_FXA_METRICS_HASH_SECRET,
      nodes: syncNodes(c.FOXDEN_SYNC_NODES),
      localNodeCapacity: c.FOXDEN_NODE_CAPACITY,
    },
  };
  if (!config.accountsEnabled && !config.tokenserver.fxaVerifyUrl) {
    throw new ConfigError(
      'invalid configuration:\n  FOXDEN_ACCOUNTS="off": the tokenserver then needs FOXDEN_FXA_VERIFY_URL (the external accounts server\'s verify endpoint)',
    );
  }
  return config;
}

function oauthClients(value: string | unknown[] | undefined): unknown[] {
  const list = oauthClientList(value);
  try {
    new ClientRegistry(list);
  } catch (err) {
    if (err instanceof ClientConfigError) throw new ConfigError(`invalid configuration:\n  ${err.message}`);
    throw err;
  }
  return list;
}

function oauthClientList(value: string | unknown[] | undefined): unknown[] {
  if (value === undefined) return [];
  if (Array.isArray(value)) return value;
  if (value.trim() === '') return [];
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch {
    throw new ConfigError(`invalid configuration:\n  FOXDEN_OAUTH_CLIENTS: must be a JSON array of clients`);
  }
  if (!Array.isArray(parsed)) throw new ConfigError(`invalid configuration:\n  FOXDEN_OAUTH_CLIENTS: must be a JSON array of clients`);
  return parsed;
}

/** "https://a.example=50000,https://b.example": node URLs, each with an optional capacity. */
function syncNodes(value: string | undefined): { url: string; capacity: number }[] {
  if (!value || value.trim() === '') return [];
  return value
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0)
    .map((entry) => {
      const m = /^(https?:\/\/[^=\s?#]+?)\/*(?:=(\d+))?$/i.exec(entry);
      if (!m || !URL.canParse(m[1]!)) {
        throw new ConfigError(
          `invalid configuration:\n  FOXDEN_SYNC_NODES=${JSON.stringify(value)}: each entry must be a node URL, optionally =capacity (https://sync2.example.com=50000)`,
        );
      }
      return { url: m[1]!, capacity: m[2] ? Number(m[2]) : 100_000 };
    });
}

function trustedProxies(value: string | undefined): string[] | number | undefined {
  if (!value || value.trim() === '') return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value.trim());
  return value.split(',').map((s) => s.trim()).filter((s) => s.length > 0);
}

/** Where the configured public URL puts its path prefix ('' for none). */
export function publicPathPrefix(config: Config): string {
  return config.publicUrl ? config.publicUrl.pathname.replace(/\/+$/, '') : '';
}
