import { createRequire } from 'node:module';

// Kysely's CommonJS build, loaded once for the whole program: its ESM build is ~280 modules,
// and Node's ESM loader keeps about 7 MB more resident for them. Every value import of Kysely
// goes through this file (type imports may use 'kysely' directly), so only one copy is loaded.
const kysely = createRequire(import.meta.url)('kysely') as typeof import('kysely');

export const { Kysely, Migrator, PostgresAdapter, PostgresDialect, SqliteDialect, sql } = kysely;
