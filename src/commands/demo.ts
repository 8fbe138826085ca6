import type { Command } from 'commander';
import { JOBS, JOB_NAMES, type JobName } from '../core/catalog.js';
import { ExitCode, usageError } from '../core/errors.js';
import { printSummary } from '../core/jobCommand.js';
import { action, withDatabase } from '../core/lifecycle.js';
import { executeRun } from '../core/runner.js';
import { jobWithDefaults } from './jobs.js';

// Every job once (a job missing here fails to compile), producers before consumers: reminders
// and exports queue the notifications that `notifications` then delivers.
const DEMO_RANK: Record<JobName, number> = {
  recurring: 1,
  overdue: 2,
  reminders: 3,
  exports: 4,
  notifications: 5,
  rollover: 6,
  'cleanup-tokens': 7,
  prune: 8,
};
const DEMO_ORDER = [...JOB_NAMES].sort((a, b) => DEMO_RANK[a] - DEMO_RANK[b]);

export const registerDemo = (program: Command) =>
  program
    .command('demo')
    .description('on the embedded default: migrate, seed sample data, run every job and show what each did')
    .option('--force', 'also run against DATABASE_URL (it replaces the demo users there)')
    .action(
      action<{ force?: boolean }>(async (invocation, options) => {
        if (invocation.config.databaseUrl && !options.force) {
          throw usageError(
            'demo seeds sample data, so it runs on the embedded default only: unset DATABASE_URL (or pass --force)',
          );
        }
        return withDatabase(invocation, options, { command: 'demo', schemaCurrent: true }, async (db, { now }) => {
          // Loaded here, not at start-up: the demo is the one command that needs every job.
          const [{ seedDemo, DEMO_EMAIL_DOMAIN }, { demoReport }] = await Promise.all([
            import('../demo/seed.js'),
            import('../demo/report.js'),
          ]);
          await seedDemo(db.knex, now);
          // With --json, stdout is the runs' summaries alone, one JSON object a line.
          if (!options.json) invocation.print(`Seeded the demo planner at ${now.toISOString()}; running every job:\n`);
          let worst: ExitCode = ExitCode.ok;
          for (const name of DEMO_ORDER) {
            const job = await jobWithDefaults(name);
            const { summary, exitCode } = await executeRun(
              job,
              // Each job once, through: no following (PLANNER_FOLLOW) here.
              {
                knex: db.knex,
                config: { ...invocation.config, follow: false },
                log: invocation.log,
                progress: invocation.progress,
              },
              {
                now,
                nowFixed: true,
                dryRun: options.dryRun === true,
                batchSize: JOBS[job.name].batchSize,
                maxRuntimeSeconds: 60,
                signal: invocation.io.signal,
              },
            );
            invocation.stopProgress();
            printSummary(invocation, summary, options);
            if (exitCode !== ExitCode.ok) worst = exitCode;
          }
          if (!options.json && !options.dryRun) {
            invocation.print('\nWhat the jobs did:');
            for (const line of await demoReport(db.knex, DEMO_EMAIL_DOMAIN)) invocation.print(line);
          }
          return worst;
        });
      }),
    );
