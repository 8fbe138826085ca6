import type { Command } from 'commander';
import { JOB_NAMES } from '../core/catalog.js';
import { ExitCode } from '../core/errors.js';
import { isHealthy, jobHealth, type JobHealth } from '../core/health.js';
import { databaseAction } from '../core/lifecycle.js';
import { positiveInt } from '../core/options.js';
import { query } from '../core/sql.js';

interface RunRow {
  job: string;
  id: string;
  status: string;
  started_at: Date;
  finished_at: Date | null;
  dry_run: boolean;
  processed: number;
  failed: number;
  reason: string | null;
  error: string | null;
}

export const registerStatus = (program: Command) =>
  program
    .command('status')
    .description('health verdict and recent runs of every job, from job_runs')
    .option('--runs <n>', 'runs to show per job', positiveInt('--runs', 1000), 5)
    .option('--check', 'for monitoring: exit 1 when an enabled job has not succeeded within twice its schedule')
    .action(
      databaseAction<{ runs: number; check?: boolean }>(
        { command: 'status', schemaCurrent: true },
        async (invocation, options, db, { now }) => {
          const health = await jobHealth(db.knex, invocation.config, now);
          const verdictCode = options.check && !isHealthy(health) ? ExitCode.failed : ExitCode.ok;
          if (options.check && options.json) {
            invocation.print(JSON.stringify({ healthy: isHealthy(health), jobs: health }));
            return verdictCode;
          }
          const runs = await query<RunRow>(
            db.knex,
            `/* planner-jobs:status.recentRuns */ SELECT r.job, r.id, r.status, r.started_at, r.finished_at, r.dry_run, r.processed, r.failed,
                    r.details->>'reason' AS reason, r.details->'error'->>'message' AS error
               FROM unnest(:jobs::text[]) WITH ORDINALITY AS j(job, position)
               CROSS JOIN LATERAL (
                 SELECT * FROM job_runs WHERE job_runs.job = j.job ORDER BY started_at DESC LIMIT :runs
               ) r
              ORDER BY j.position, r.started_at DESC`,
            { jobs: JOB_NAMES, runs: options.runs },
          );
          if (options.json) {
            invocation.print(JSON.stringify(runs.map((run) => ({ ...run, duration_ms: durationMs(run) }))));
            return verdictCode;
          }
          printHealth(invocation.print, health, now);
          if (runs.length === 0) invocation.print('no runs recorded yet');
          for (const job of JOB_NAMES) {
            const ofJob = runs.filter((run) => run.job === job);
            if (ofJob.length === 0) continue;
            invocation.print(job);
            for (const run of ofJob) {
              const duration = durationMs(run);
              const note = run.error ?? run.reason;
              invocation.print(
                `  #${run.id}  ${run.status.padEnd(9)} ${run.started_at.toISOString()}  ${duration === null ? 'running' : `${(duration / 1000).toFixed(1)}s`}` +
                  `  processed ${run.processed}, failed ${run.failed}${run.dry_run ? '  (dry run)' : ''}${note ? `  — ${note}` : ''}`,
              );
            }
          }
          return verdictCode;
        },
      ),
    );

function printHealth(print: (line: string) => void, health: readonly JobHealth[], now: Date): void {
  const unhealthy = health.filter((job) => job.verdict === 'stale' || job.verdict === 'never');
  print(
    `health: ${unhealthy.length === 0 ? 'ok' : `unhealthy (${unhealthy.map((job) => `${job.job} ${job.verdict}`).join(', ')})`}`,
  );
  const width = Math.max(...health.map((job) => job.job.length));
  for (const job of health) {
    const last = job.last_success_at
      ? `last success ${job.last_success_at} (${ago(now, new Date(job.last_success_at))} ago)`
      : 'no success recorded';
    const detail = job.verdict === 'disabled' ? 'turned off' : `${last}; stale after ${human(job.stale_after_seconds)}`;
    print(`  ${job.job.padEnd(width)}  ${job.verdict.padEnd(8)}  ${detail}  [${job.schedule}]`);
  }
  print('');
}

const human = (seconds: number) =>
  seconds >= 86_400 && seconds % 86_400 === 0
    ? `${seconds / 86_400}d`
    : seconds >= 3600 && seconds % 3600 === 0
      ? `${seconds / 3600}h`
      : seconds >= 60
        ? `${Math.round(seconds / 60)}m`
        : `${Math.round(seconds)}s`;
const ago = (now: Date, then: Date) => human(Math.max(0, Math.round((now.getTime() - then.getTime()) / 1000)));

const durationMs = (run: RunRow) => (run.finished_at ? run.finished_at.getTime() - run.started_at.getTime() : null);
