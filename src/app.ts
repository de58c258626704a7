import Fastify, { type FastifyInstance } from 'fastify';
import { publicPathPrefix, type Config } from './config.js';
import { TokenVerifier } from './crypto/tokenlib.js';
import { migrate, openDatabase, type Database } from './db/index.js';
import { ensureSecret } from './db/secrets.js';
import { AccountsAuthenticator } from './accounts/auth.js';
import type { AccountsContext } from './accounts/context.js';
import { Customs } from './accounts/customs.js';
import { pruneAccounts } from './accounts/prune.js';
import { ensureVapidKeys, PushSender } from './accounts/push.js';
import { accountsRoutes } from './accounts/routes.js';
import { ScryptProcess } from './crypto/scrypt-process.js';
import { defaultScryptConcurrency, SCRYPT, ScryptPool } from './crypto/verifier.js';
import { healthRoutes } from './health.js';
import { createMailer, type Mailer } from './mail/index.js';
import { StorageAuthenticator } from './storage/auth.js';
import { storageRoutes } from './storage/routes.js';
import { StorageService } from './storage/service.js';
import { discoveryRoutes } from './discovery.js';
import { AccessTokens } from './oauth/access-tokens.js';
import { ClientRegistry } from './oauth/clients.js';
import { profileImageRoutes, profileRoutes } from './oauth/profile-routes.js';
import { oauthFacadeRoutes, oauthRoutes } from './oauth/routes.js';
import { createTokenserver, type Tokenserver } from './tokenserver/index.js';

// Wires the services into one Fastify server.

export interface App {
  server: FastifyInstance;
  database: Database;
  storage: StorageService;
  tokens: TokenVerifier;
  accounts: AccountsContext;
  tokenserver: Tokenserver;
  /** Undefined when local accounts are off (FOXDEN_ACCOUNTS=off). */
  accessTokens: AccessTokens | undefined;
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
  'Timestamp',
  'Retry-After',
  'ETag',
  'If-None-Match',
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
    // Believe X-Forwarded-For only from the configured proxies (or the given number of hops).
    trustProxy: typeof config.trustedProxies === 'number' ? ((n: number) => (_addr: string, hop: number) => hop < n)(config.trustedProxies) : config.trustedProxies,
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

  const log = server.log;
  const scryptProcess = new ScryptProcess(SCRYPT);
  const publicBase = config.publicUrl ? config.publicUrl.href.replace(/\/+$/, '') : undefined;
  // Mails name the server; without a public URL the best guess is where it listens.
  const mailBase = publicBase ?? `http://${config.host === '0.0.0.0' || config.host === '::' ? 'localhost' : config.host}:${config.port}`;
  const mailer: Mailer = createMailer({ smtpUrl: config.accounts.smtpUrl, from: config.accounts.mailFrom, dataDir: config.dataDir, publicUrl: mailBase, log });
  const mailAddress = /<([^>]+)>/.exec(config.accounts.mailFrom)?.[1] ?? config.accounts.mailFrom;
  const accounts: AccountsContext = {
    database,
    db: database.db,
    settings: config.accounts,
    pool: new ScryptPool(config.accounts.scryptConcurrency || defaultScryptConcurrency(), undefined, (pw, salt) => scryptProcess.run(pw, salt)),
    mailer,
    customs: new Customs(database.db, { enabled: config.accounts.rateLimits }),
    push: new PushSender({ vapid: await ensureVapidKeys(database.db), subject: `mailto:${mailAddress}`, log }),
    publicBase,
    log,
  };

  await server.register(healthRoutes, { database });
  let accessTokens: AccessTokens | undefined;
  if (config.accountsEnabled) {
    const accountsAuth = new AccountsAuthenticator(database.db, config.publicUrl);
    accessTokens = await AccessTokens.open(database.db, mailBase);
    const clients = new ClientRegistry(config.oauthClients);
    accounts.clientName = (id) => clients.get(id)?.name;
    const oauth = { ctx: accounts, auth: accountsAuth, accessTokens, clients };
    await server.register(accountsRoutes, { prefix: '/auth/v1', ctx: accounts, auth: accountsAuth });
    await server.register(oauthRoutes, { prefix: '/auth/v1', ...oauth });
    await server.register(oauthFacadeRoutes, { prefix: '/oauth/v1', ...oauth });
    await server.register(profileRoutes, { prefix: '/profile/v1', ctx: accounts, accessTokens });
    await server.register(profileImageRoutes, { prefix: '/profile', ctx: accounts });
    await server.register(discoveryRoutes, { publicBase });
  }
  const tokenserver = await createTokenserver({
    database,
    settings: config.tokenserver,
    tokens,
    localVerifier: accessTokens
      ? async (token) => {
          const claims = await accessTokens!.verify(token);
          return claims && { uid: claims.uid, scope: claims.scope, generation: claims.generation };
        }
      : undefined,
    deleteLocalUser: (uid) => storage.retireUser(uid),
    publicBase,
    fallbackBase: mailBase,
    log,
  });
  accounts.onAccountDeleted = (uid) => tokenserver.retireUser(uid);
  await server.register(tokenserver.routes, { prefix: '/token' });
  await server.register(tokenserver.routes);
  await server.register(storageRoutes, { service: storage, auth, limits: config.storage });

  let purgeTimer: NodeJS.Timeout | undefined;
  if (config.purgeIntervalSeconds > 0) {
    purgeTimer = setInterval(() => {
      storage.purgeExpired().then(
        (n) => n > 0 && server.log.info({ purged: n }, 'expired records purged'),
        (err) => server.log.warn({ err }, 'purge failed'),
      );
      pruneAccounts(accounts).then(
        (n) => n > 0 && server.log.info({ pruned: n }, 'expired account tokens and codes pruned'),
        (err) => server.log.warn({ err }, 'accounts pruning failed'),
      );
      tokenserver.purgeRemote().then(
        (n) => n > 0 && server.log.info({ purged: n }, 'replaced users purged on remote storage nodes'),
        (err) => server.log.warn({ err }, 'remote storage purge failed'),
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
      scryptProcess.close();
      await mailer.close();
      await database.close();
    })());

  return { server, database, storage, tokens, accounts, tokenserver, accessTokens, close };
}
