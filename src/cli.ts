#!/usr/bin/env node
import { Command } from 'commander';
import { buildApp } from './app.js';
import { ConfigError, loadConfig, type Config } from './config.js';
import { migrate, openDatabase } from './db/index.js';
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

program
  .command('migrate')
  .description('apply database migrations and exit')
  .action(async () => {
    const config = configOrExit(program.opts().config);
    const database = await openDatabase({ databaseUrl: config.databaseUrl, dataDir: config.dataDir });
    try {
      const applied = await migrate(database);
      process.stdout.write(applied.length ? `applied: ${applied.join(', ')}\n` : 'database is up to date\n');
    } finally {
      await database.close();
    }
  });

program.parseAsync(process.argv).catch((err) => {
  process.stderr.write(`foxden: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
  process.exit(1);
});
