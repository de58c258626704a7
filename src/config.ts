import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { createRequire } from 'node:module';
// Zod's v3 API: the same validation at a fifth of the memory of the v4 one.
import { z } from 'zod/v3';

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
  return {
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
  };
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
