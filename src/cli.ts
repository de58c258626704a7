#!/usr/bin/env node
import { Command } from 'commander';
import { buildApp } from './app.js';
import { ConfigError, loadConfig, type Config } from './config.js';
import { createInvite } from './accounts/registration.js';
import { listNodes, updateNode, type NodeChanges } from './tokenserver/admin.js';
import { MAX_TTL_SECONDS, rotateSigningKey } from './oauth/access-tokens.js';
import { migrate, openDatabase, type Database } from './db/index.js';
import { VERSION } from './version.js';

function configOrExit(file: string | undefined): Config {
  try {
    return loadConfig({ file });
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`foxden: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
}

async function serve(file: string | undefined): Promise<void> {
  const config = configOrExit(file);
  const app = await buildApp(config);
  const log = app.server.log;
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'shutting down: finishing in-flight requests');
    app.close().then(
      () => process.exit(0),
      (err) => {
        log.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  await app.server.listen({ host: config.host, port: config.port });
  const where = config.publicUrl ? config.publicUrl.toString().replace(/\/$/, '') : '(FOXDEN_PUBLIC_URL unset: taking host and port from each request)';
  log.info({ database: app.database.engine, location: app.database.location, publicUrl: where }, `foxden ${VERSION} ready`);
  if (!config.publicUrl) log.warn('set FOXDEN_PUBLIC_URL to the URL clients use, or Hawk signatures fail behind a proxy');
}

const program = new Command();
program.name('foxden').description('Firefox Accounts and Sync server in one process').version(VERSION);
program.option('-c, --config <file>', 'YAML or JSON file with FOXDEN_* keys (environment variables win)');

program
  .command('serve', { isDefault: true })
  .description('start the server (runs migrations first)')
  .action(() => serve(program.opts().config));

/** Open the configured database, bring it up to date, run `fn`, close it. */
async function withDatabase<T>(fn: (database: Database, config: Config) => Promise<T>): Promise<T> {
  const config = configOrExit(program.opts().config);
  const database = await openDatabase({ databaseUrl: config.databaseUrl, dataDir: config.dataDir });
  try {
    return await fn(database, config);
  } finally {
    await database.close();
  }
}

program
  .command('migrate')
  .description('apply database migrations and exit')
  .action(() =>
    withDatabase(async (database) => {
      const applied = await migrate(database);
      process.stdout.write(applied.length ? `applied: ${applied.join(', ')}\n` : 'database is up to date\n');
    }),
  );

program
  .command('invite')
  .description('create a single-use sign-up code (for FOXDEN_REGISTRATION=invite)')
  .option('--email <address>', 'only this address may use the code')
  .option('--days <n>', 'days the code stays valid', '7')
  .action((opts: { email?: string; days: string }) =>
    withDatabase(async (database, config) => {
      const days = Number(opts.days);
      if (!Number.isFinite(days) || days <= 0 || days > 365) {
        process.stderr.write('foxden: --days must be a number of days between 1 and 365\n');
        process.exit(2);
      }
      await migrate(database);
      const invite = await createInvite(database.db, { email: opts.email, lifetimeMs: days * 24 * 3600 * 1000 });
      process.stdout.write(`${invite.code}\n`);
      const until = new Date(invite.expiresAt).toISOString();
      const note = config.accounts.registration === 'invite' ? '' : ` (note: FOXDEN_REGISTRATION is ${config.accounts.registration}, so codes are not asked for)`;
      process.stderr.write(`invite code valid until ${until}${opts.email ? ` for ${opts.email}` : ''}${note}\n`);
    }),
  );

program
  .command('rotate-oauth-key')
  .description('make a new key for signing OAuth access tokens; the previous one stays valid for the tokens it signed')
  .action(() =>
    withDatabase(async (database) => {
      await migrate(database);
      const kid = await rotateSigningKey(database.db);
      process.stdout.write(`${kid}\n`);
      process.stderr.write(
        `new signing key ${kid}: running servers use it within 10 minutes; tokens signed with the previous key stay valid until they expire (at most ${MAX_TTL_SECONDS / 3600} hours). Rotate again only after that.\n`,
      );
    }),
  );

const onOff = (flag: string) => (value: string) => {
  if (value !== 'on' && value !== 'off') {
    process.stderr.write(`foxden: ${flag} must be on or off\n`);
    process.exit(2);
  }
  return value === 'on';
};

const nodes = program.command('nodes').description('the Sync storage nodes users are assigned to');
nodes
  .command('list', { isDefault: true })
  .description('list the nodes with their load')
  .action(() =>
    withDatabase(async (database) => {
      await migrate(database);
      const rows = await listNodes(database.db);
      if (rows.length === 0) process.stdout.write('no storage nodes yet (the server adds its own when it starts)\n');
      for (const n of rows) {
        const flags = [n.downed ? 'downed' : '', n.backoff ? 'backoff' : ''].filter(Boolean).join(', ');
        process.stdout.write(`${n.node}  users ${n.load}/${n.capacity}, ${n.available} free before a top-up${flags ? `, ${flags}` : ''}\n`);
      }
    }),
  );
nodes
  .command('set <url>')
  .description('change a node; its users stay on it either way (nodes named in the configuration get their capacity from it again at the next start)')
  .option('--downed <on|off>', 'mark it down: no new users, and no capacity top-ups', onOff('--downed'))
  .option('--backoff <on|off>', 'give it no new users for now', onOff('--backoff'))
  .option('--capacity <n>', 'how many users it takes')
  .action((url: string, opts: { downed?: boolean; backoff?: boolean; capacity?: string }) =>
    withDatabase(async (database) => {
      const changes: NodeChanges = { downed: opts.downed, backoff: opts.backoff };
      if (opts.capacity !== undefined) {
        const capacity = Number(opts.capacity);
        if (!Number.isSafeInteger(capacity) || capacity < 0) {
          process.stderr.write('foxden: --capacity must be a whole number\n');
          process.exit(2);
        }
        changes.capacity = capacity;
      }
      await migrate(database);
      if (!(await updateNode(database.db, url, changes))) {
        process.stderr.write(`foxden: no storage node ${url} (see foxden nodes list)\n`);
        process.exit(2);
      }
      process.stdout.write(`updated ${url}\n`);
    }),
  );

program.parseAsync(process.argv).catch((err) => {
  process.stderr.write(`foxden: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
  process.exit(1);
});
