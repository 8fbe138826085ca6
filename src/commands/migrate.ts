import type { Command } from 'commander';
import { action } from '../core/commandKit.js';
import { migrateLatest, openDatabase } from '../core/db.js';
import { ExitCode } from '../core/errors.js';
import { query } from '../core/sql.js';
import { migrationSource } from '../../migrations/index.js';

export const registerMigrate = (program: Command) =>
  program
    .command('migrate')
    .description('bring the schema up to date (knex migrations)')
    .option('--status', 'list the migrations and whether each is applied')
    .action(
      action<{ status?: boolean }>(async (session, options) => {
        const db = await openDatabase(session.config, session.log, 'planner-jobs:migrate');
        try {
          if (!options.status) {
            const applied = await migrateLatest(db.knex, session.log);
            const summary = { status: 'succeeded', applied };
            session.print(
              options.json ? JSON.stringify(summary) : applied.length ? `applied: ${applied.join(', ')}` : 'already up to date',
            );
            return ExitCode.ok;
          }
          const known = await migrationSource.getMigrations([]);
          const hasTable = (await query<{ t: string | null }>(db.knex, "select to_regclass('knex_migrations')::text as t"))[0].t;
          const done = hasTable
            ? await query<{ name: string; migration_time: Date }>(db.knex, 'select name, migration_time from knex_migrations')
            : [];
          const appliedAt = new Map(done.map((row) => [row.name, row.migration_time]));
          const rows = known.map((name) => ({
            name,
            applied: appliedAt.has(name),
            applied_at: appliedAt.get(name)?.toISOString() ?? null,
          }));
          if (options.json) session.print(JSON.stringify(rows));
          else
            for (const row of rows)
              session.print(
                `${row.applied ? 'applied' : 'pending'}  ${row.name}${row.applied_at ? `  (${row.applied_at})` : ''}`,
              );
          return ExitCode.ok;
        } finally {
          await db.close();
        }
      }),
    );
