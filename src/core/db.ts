import { setTimeout as sleep } from 'node:timers/promises';
import knexFactory, { type Knex } from 'knex';
import { parse as parseConnectionString } from 'pg-connection-string';
import { migrationSource } from '../../migrations/index.js';
import type { Config } from './config.js';
import { startEmbedded } from './embedded.js';
import { classify, configError } from './errors.js';
import type { Logger } from './logger.js';

export interface Database {
  knex: Knex;
  /** Whether this is the embedded default (migrated automatically). */
  embedded: boolean;
  /** Which database, in words, without credentials (a run's start line says it). */
  description: string;
  close(): Promise<void>;
}

/**
 * Two connections at most: one for the batch transaction, one for bookkeeping (job_runs).
 * Nothing here keeps session state (no session advisory locks, no LISTEN, no SET), so the
 * pool is safe behind PgBouncer in transaction mode.
 */
export function createKnex(url: string, applicationName: string, log?: Logger): Knex {
  // knex prints its own warnings with console.log; they belong in the log (stderr), never on stdout,
  // as one line. A failed connection attempt (stack included) is only a debug record: the run's own
  // error, classified, says it once.
  const forward = (level: 'warn' | 'error' | 'debug') => (message: unknown) => {
    const text = String(message);
    if (level === 'debug' || text.startsWith('Acquire connection error')) log?.debug({ knex: text }, 'knex');
    else log?.[level]({ knex: text.split('\n')[0] }, 'knex');
  };
  return knexFactory({
    log: { warn: forward('warn'), error: forward('error'), deprecate: forward('warn'), debug: forward('debug') },
    client: 'pg',
    connection: { connectionString: url, application_name: applicationName, connectionTimeoutMillis: 10_000 },
    pool: { min: 0, max: 2 },
    acquireConnectionTimeout: 15_000,
    migrations: { migrationSource, tableName: 'knex_migrations' },
  });
}

const CLOSE_TIMEOUT_MS = 5_000;

/** Thrown inside a dry run's transaction so that it rolls back. */
class DryRunRollback extends Error {}

/**
 * Runs `work` on the pool, or, for a dry run, inside one transaction that is rolled back at the
 * end (the work's own transactions become savepoints of it): a dry run makes the same changes,
 * so it sees and reports exactly what a real run would, and keeps none. Returns the work's result;
 * the work's own errors propagate unchanged.
 */
export async function withDryRun<T>(knex: Knex, dryRun: boolean, work: (db: Knex | Knex.Transaction) => Promise<T>): Promise<T> {
  if (!dryRun) return work(knex);
  let result: T | undefined;
  await knex
    .transaction(async (trx) => {
      result = await work(trx);
      throw new DryRunRollback();
    })
    .catch((err) => {
      if (!(err instanceof DryRunRollback)) throw err;
    });
  return result as T;
}

/**
 * Which database a run works on, for its start line, so a job that silently lost its DATABASE_URL
 * (an env file sourced without `set -a`) shows it: the embedded one and its directory, or the
 * database, host and port of DATABASE_URL. Never the credentials.
 */
function describeDatabase(config: Config): string {
  if (config.databaseUrl === undefined) return `the embedded PostgreSQL under ${config.dataDir} (DATABASE_URL is unset)`;
  const { host, port, database } = parseConnectionString(config.databaseUrl);
  return `${database ?? '(default)'} on ${host ?? 'localhost'}:${port ?? 5432}`;
}

export async function openDatabase(config: Config, log: Logger, applicationName: string): Promise<Database> {
  const embedded = config.databaseUrl === undefined;
  const server = embedded ? await startEmbedded(config.dataDir, log) : undefined;
  const knex = createKnex(server?.url ?? config.databaseUrl!, applicationName, log);
  const close = async () => {
    // A connection whose server went away mid-query may never settle; it must not keep a finished run alive.
    const closed = await Promise.race([knex.destroy().then(() => true), sleep(CLOSE_TIMEOUT_MS, false, { ref: false })]);
    if (!closed) log.warn(`the database connections did not close within ${CLOSE_TIMEOUT_MS / 1000} s; leaving them`);
    await server?.release();
  };
  try {
    await probeAccess(knex);
    if (embedded) await migrateLatest(knex, log);
  } catch (err) {
    await close().catch(() => undefined);
    throw classify(err);
  }
  return { knex, embedded, close, description: describeDatabase(config) };
}

/**
 * Connects once and checks that the role can use the schema, before anything is claimed or
 * recorded: a role without USAGE on any schema of its search_path (PostgreSQL: such schemas are
 * skipped, so current_schema() is null), or without SELECT on knex_migrations, is exit 78 here
 * rather than a failed job_runs row later. A refused login (SQLSTATE 28xxx), an unknown database
 * (3D000) or a refused sslmode surface here too, classified by errors.classify.
 */
async function probeAccess(knex: Knex): Promise<void> {
  const { rows } = await knex.raw<{
    rows: { role: string; database: string; schema: string | null; migrations_readable: boolean | null }[];
  }>(
    `select current_user as role, current_database() as database, current_schema() as schema,
            has_table_privilege(to_regclass('knex_migrations'), 'SELECT') as migrations_readable`,
  );
  const { role, database, schema, migrations_readable: migrationsReadable } = rows[0];
  if (schema === null) {
    throw configError(
      `DATABASE_URL's role "${role}" may not use any schema of its search_path in database "${database}" (no USAGE privilege); grant it, e.g. GRANT USAGE ON SCHEMA public TO "${role}"`,
    );
  }
  if (migrationsReadable === false) {
    throw configError(
      `DATABASE_URL's role "${role}" may not read the tables of schema "${schema}" in database "${database}" (no SELECT on knex_migrations); grant the jobs' role its privileges`,
    );
  }
}

export async function migrateLatest(knex: Knex, log: Logger): Promise<string[]> {
  const [, applied] = (await knex.migrate.latest()) as [number, string[]];
  if (applied.length > 0) log.info({ migrations: applied }, `applied ${applied.length} migration(s)`);
  return applied;
}

/** Names of the migrations this build knows and the database has not applied yet. */
export async function pendingMigrations(knex: Knex): Promise<string[]> {
  const known = await migrationSource.getMigrations([]);
  const { rows } = await knex.raw<{ rows: { table: string | null }[] }>("select to_regclass('knex_migrations')::text as table");
  if (!rows[0].table) return known;
  const applied = new Set(await knex('knex_migrations').pluck('name'));
  return known.filter((name) => !applied.has(name));
}

/** A job never runs against a schema older than its code: exit 78 and say what to do. */
export async function assertSchemaCurrent(knex: Knex): Promise<void> {
  const pending = await pendingMigrations(knex);
  if (pending.length > 0) {
    throw configError(
      `the database schema is behind (${pending.length} pending: ${pending.join(', ')}); run \`planner-jobs migrate\` first`,
    );
  }
}
