import type { Command } from 'commander';
import { action } from '../core/commandKit.js';
import { assertSchemaCurrent, openDatabase } from '../core/db.js';
import { ExitCode, usageError } from '../core/errors.js';
import { JOBS } from '../core/catalog.js';
import { printSummary } from '../core/jobCommand.js';
import { executeRun } from '../core/runner.js';

export const registerDemo = (program: Command) =>
  program
    .command('demo')
    .description('on the embedded default: migrate, seed sample data, run every job and show what each did')
    .option('--force', 'also run against DATABASE_URL (it replaces the demo users there)')
    .action(
      action<{ force?: boolean }>(async (session, options) => {
        if (session.config.databaseUrl && !options.force) {
          throw usageError(
            'demo seeds sample data, so it runs on the embedded default only: unset DATABASE_URL (or pass --force)',
          );
        }
        const db = await openDatabase(session.config, session.log, 'planner-jobs:demo');
        try {
          await assertSchemaCurrent(db.knex);
          const now = options.now ?? new Date();
          // Loaded here, not at start-up: the demo is the one command that needs every job.
          const [{ seedDemo, DEMO_EMAIL_DOMAIN }, { demoReport }, { ALL_JOBS }] = await Promise.all([
            import('../demo/seed.js'),
            import('../demo/report.js'),
            import('../jobs/index.js'),
          ]);
          await seedDemo(db.knex, now);
          session.print(`Seeded the demo planner at ${now.toISOString()}; running every job:\n`);
          let worst: ExitCode = ExitCode.ok;
          for (const job of ALL_JOBS) {
            const { summary, exitCode } = await executeRun(
              job,
              { knex: db.knex, config: session.config, log: session.log, progress: session.progress },
              {
                now,
                nowFixed: true,
                dryRun: options.dryRun === true,
                batchSize: JOBS[job.name].batchSize,
                maxRuntimeSeconds: 60,
                signal: session.io.signal,
              },
            );
            session.stopProgress();
            printSummary(session, summary, options);
            if (exitCode !== ExitCode.ok) worst = exitCode;
          }
          if (!options.json && !options.dryRun) {
            session.print('\nWhat the jobs did:');
            for (const line of await demoReport(db.knex, DEMO_EMAIL_DOMAIN)) session.print(line);
          }
          return worst;
        } finally {
          await db.close();
        }
      }),
    );
