import type { Knex } from 'knex';
import { JOB_NAMES, type JobName } from './catalog.js';
import type { Config } from './config.js';
import { jobSchedules } from './schedule.js';
import { query } from './sql.js';

/**
 * `ok`: succeeded within twice its schedule's period. `stale`: its last success is older.
 * `never`: no successful run recorded. `disabled`: JOB_<NAME>_ENABLED=false, not judged.
 */
export type Verdict = 'ok' | 'stale' | 'never' | 'disabled';

export interface JobHealth {
  job: JobName;
  verdict: Verdict;
  schedule: string;
  /** Twice the schedule's period (its longest gap between two fires). */
  stale_after_seconds: number;
  last_success_at: string | null;
  last_run_status: string | null;
}

/** Runs that count as a success: finished as `succeeded`, not a dry run (skipped runs do no work). */
const LAST_RUNS_SQL = `/* planner-jobs:monitoring.lastRuns */
  SELECT j.job,
         (SELECT finished_at FROM job_runs r
           WHERE r.job = j.job AND r.status = 'succeeded' AND NOT r.dry_run
           ORDER BY r.started_at DESC LIMIT 1) AS last_success_at,
         (SELECT status FROM job_runs r
           WHERE r.job = j.job AND NOT r.dry_run
           ORDER BY r.started_at DESC LIMIT 1) AS last_run_status
    FROM unnest(:jobs::text[]) WITH ORDINALITY AS j(job, position)
   ORDER BY j.position`;

/** The verdict of every job at `now`; schedules are validated first (a malformed one is exit 78). */
export async function jobHealth(knex: Knex, config: Config, now: Date): Promise<JobHealth[]> {
  const schedules = jobSchedules(config);
  const rows = await query<{ job: JobName; last_success_at: Date | null; last_run_status: string | null }>(knex, LAST_RUNS_SQL, {
    jobs: JOB_NAMES,
  });
  return rows.map(({ job, last_success_at, last_run_status }) => {
    const staleAfterSeconds = 2 * schedules[job].periodSeconds;
    const verdict: Verdict = !config.jobs[job].enabled
      ? 'disabled'
      : !last_success_at
        ? 'never'
        : now.getTime() - last_success_at.getTime() > staleAfterSeconds * 1000
          ? 'stale'
          : 'ok';
    return {
      job,
      verdict,
      schedule: schedules[job].expression,
      stale_after_seconds: staleAfterSeconds,
      last_success_at: last_success_at?.toISOString() ?? null,
      last_run_status,
    };
  });
}

/** Healthy when every enabled job succeeded recently enough. */
export const isHealthy = (jobs: readonly JobHealth[]) => jobs.every((job) => job.verdict === 'ok' || job.verdict === 'disabled');
