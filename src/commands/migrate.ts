import type { Command } from 'commander';
import type { Knex } from 'knex';
import { migrateLatest } from '../core/db.js';
import { ExitCode } from '../core/errors.js';
import { databaseAction } from '../core/lifecycle.js';
import { query } from '../core/sql.js';
import { migrationSource } from '../../migrations/index.js';

export const registerMigrate = (program: Command) =>
  program
    .command('migrate')
    .description('bring the schema up to date (knex migrations); with --dry-run, list what it would apply')
    .option('--status', 'list the migrations and whether each is applied')
    .action(
      // The one command that runs on a schema that is behind: it is what brings it up to date.
      databaseAction<{ status?: boolean }>({ command: 'migrate', schemaCurrent: false }, async (invocation, options, db) => {
        if (options.status) {
          const rows = await migrationStates(db.knex);
          if (options.json) invocation.print(JSON.stringify(rows));
          else
            for (const row of rows)
              invocation.print(
                `${row.applied ? 'applied' : 'pending'}  ${row.name}${row.applied_at ? `  (${row.applied_at})` : ''}`,
              );
          return ExitCode.ok;
        }
        if (options.dryRun) {
          const pending = (await migrationStates(db.knex)).filter((row) => !row.applied).map((row) => row.name);
          invocation.print(
            options.json
              ? JSON.stringify({ status: 'succeeded', dry_run: true, would_apply: pending })
              : pending.length
                ? `dry run, nothing applied; would apply: ${pending.join(', ')}`
                : 'dry run: already up to date',
          );
          return ExitCode.ok;
        }
        const applied = await migrateLatest(db.knex, invocation.log);
        const summary = { status: 'succeeded', applied };
        invocation.print(
          options.json ? JSON.stringify(summary) : applied.length ? `applied: ${applied.join(', ')}` : 'already up to date',
        );
        return ExitCode.ok;
      }),
    );

/** Every migration this version knows, in order, and whether (and when) the database applied it. */
async function migrationStates(knex: Knex): Promise<{ name: string; applied: boolean; applied_at: string | null }[]> {
  const known = await migrationSource.getMigrations([]);
  const hasTable = (await query<{ t: string | null }>(knex, "select to_regclass('knex_migrations')::text as t"))[0].t;
  const done = hasTable
    ? await query<{ name: string; migration_time: Date }>(knex, 'select name, migration_time from knex_migrations')
    : [];
  const appliedAt = new Map(done.map((row) => [row.name, row.migration_time]));
  return known.map((name) => ({ name, applied: appliedAt.has(name), applied_at: appliedAt.get(name)?.toISOString() ?? null }));
}
