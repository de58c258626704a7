import Fastify, { type FastifyInstance } from 'fastify';
import { publicPathPrefix, type Config } from './config.js';
import { TokenVerifier } from './crypto/tokenlib.js';
import { migrate, openDatabase, type Database } from './db/index.js';
import { ensureSecret } from './db/secrets.js';
import { healthRoutes } from './health.js';
import { StorageAuthenticator } from './storage/auth.js';
import { storageRoutes } from './storage/routes.js';
import { StorageService } from './storage/service.js';

// Wires the services into one Fastify server.

export interface App {
  server: FastifyInstance;
  database: Database;
  storage: StorageService;
  tokens: TokenVerifier;
  /** Stop accepting, finish in-flight requests, stop timers, close the database. */
  close(): Promise<void>;
}

export interface AppOptions {
  /** pino options, or false for no logs (tests). */
  logger?: boolean | Record<string, unknown>;
}

const CORS_HEADERS = [
  'Authorization',
  'Content-Type',
  'User-Agent',
  'X-Last-Modified',
  'X-Weave-Timestamp',
  'X-Weave-Next-Offset',
  'X-Weave-Records',
  'X-Weave-Bytes',
  'X-Weave-Total-Records',
  'X-Weave-Total-Bytes',
  'X-If-Modified-Since',
  'X-If-Unmodified-Since',
  'X-Verify-Code',
].join(', ');

export function loggerOptions(config: Config): Record<string, unknown> {
  return {
    level: config.logLevel,
    redact: {
      paths: ['req.headers.authorization', 'req.headers.cookie', 'headers.authorization', '*.password', '*.secret', '*.token'],
      censor: '[redacted]',
    },
  };
}

/** The sync master secrets: configured ones, or one generated on first start and kept in the database. */
async function syncSecrets(config: Config, database: Database): Promise<string[]> {
  if (config.syncMasterSecrets.length > 0) return config.syncMasterSecrets;
  return [await ensureSecret(database.db, 'sync_master_secret')];
}

export async function buildApp(config: Config, options: AppOptions = {}): Promise<App> {
  // The database opens before the server (and its logger) exists; background errors wait for it.
  let server: FastifyInstance | undefined;
  const database = await openDatabase({
    databaseUrl: config.databaseUrl,
    dataDir: config.dataDir,
    onBackgroundError: (message) => server?.log.warn({ reason: message }, 'database background task failed'),
  });
  try {
    await migrate(database);
  } catch (err) {
    await database.close();
    throw err;
  }
  const tokens = new TokenVerifier(await syncSecrets(config, database));
  const storage = new StorageService(database, config.storage);
  const auth = new StorageAuthenticator({
    tokens,
    skewSeconds: config.hawkSkewSeconds,
    expiredTokenGraceSeconds: config.expiredTokenGraceSeconds,
    publicUrl: config.publicUrl,
  });

  const prefix = publicPathPrefix(config);
  server = Fastify({
    logger: options.logger ?? loggerOptions(config),
    exposeHeadRoutes: false,
    routerOptions: { maxParamLength: 1000 },
    bodyLimit: config.storage.maxRequestBytes,
    // Behind a proxy that keeps the public path prefix, strip it; one that strips it works as is.
    rewriteUrl: (req) => {
      const url = req.url ?? '/';
      if (prefix && (url === prefix || url.startsWith(`${prefix}/`) || url.startsWith(`${prefix}?`))) return url.slice(prefix.length) || '/';
      return url;
    },
  });

  let shuttingDown = false;
  server.addHook('onSend', async (req, reply, payload) => {
    // While shutting down, answer in-flight requests and close their connections right away.
    if (shuttingDown) reply.header('Connection', 'close');
    const origin = req.headers.origin;
    if (origin) {
      reply.header('Access-Control-Allow-Origin', origin);
      reply.header('Vary', 'Origin');
      reply.header('Access-Control-Expose-Headers', CORS_HEADERS);
    }
    return payload;
  });
  server.options('*', async (req, reply) => {
    reply.header('Access-Control-Allow-Origin', req.headers.origin ?? '*');
    reply.header('Access-Control-Allow-Methods', 'DELETE, GET, POST, PUT');
    reply.header('Access-Control-Allow-Headers', CORS_HEADERS);
    reply.header('Access-Control-Max-Age', '1728000');
    return reply.code(204).send();
  });

  server.setNotFoundHandler(async (_req, reply) => reply.code(404).type('application/json').send('0'));

  await server.register(healthRoutes, { database });
  await server.register(storageRoutes, { service: storage, auth, limits: config.storage });

  let purgeTimer: NodeJS.Timeout | undefined;
  if (config.purgeIntervalSeconds > 0) {
    purgeTimer = setInterval(() => {
      storage.purgeExpired().then(
        (n) => n > 0 && server.log.info({ purged: n }, 'expired records purged'),
        (err) => server.log.warn({ err }, 'purge failed'),
      );
    }, config.purgeIntervalSeconds * 1000);
    purgeTimer.unref();
  }

  let closing: Promise<void> | undefined;
  const close = () =>
    (closing ??= (async () => {
      shuttingDown = true;
      if (purgeTimer) clearInterval(purgeTimer);
      await server.close();
      await database.close();
    })());

  return { server, database, storage, tokens, close };
}
