/**
 * Every scheduled job, with the defaults the contract fixes. One list serves config, crontab,
 * status and the Kubernetes CronJobs. `parallelism`: how many runs Kubernetes starts at once;
 * above 1 only for the queue jobs whose rows are claimed with SKIP LOCKED, so runs share the work.
 * `follows`: the stock schedule runs it with PLANNER_FOLLOW=true (src/core/follow.ts): it works
 * until its next tick plus an overlap, so its time budget must outlast a period plus the overlap.
 */
export const JOBS = {
  recurring: { schedule: '*/5 * * * *', maxRuntimeSeconds: 240, batchSize: 1000, parallelism: 1, follows: false },
  reminders: { schedule: '* * * * *', maxRuntimeSeconds: 90, batchSize: 5000, parallelism: 1, follows: true },
  notifications: { schedule: '* * * * *', maxRuntimeSeconds: 90, batchSize: 200, parallelism: 2, follows: true },
  overdue: { schedule: '*/15 * * * *', maxRuntimeSeconds: 600, batchSize: 5000, parallelism: 1, follows: false },
  rollover: { schedule: '*/15 * * * *', maxRuntimeSeconds: 600, batchSize: 2000, parallelism: 1, follows: false },
  'cleanup-tokens': { schedule: '0 * * * *', maxRuntimeSeconds: 1800, batchSize: 5000, parallelism: 1, follows: false },
  exports: { schedule: '* * * * *', maxRuntimeSeconds: 50, batchSize: 1, parallelism: 2, follows: false },
  // Not in the contract's list: retention of job_runs and sent notifications (issue #7), daily.
  prune: { schedule: '30 3 * * *', maxRuntimeSeconds: 1800, batchSize: 5000, parallelism: 1, follows: false },
} as const;

export type JobName = keyof typeof JOBS;
export const JOB_NAMES = Object.keys(JOBS) as JobName[];

/** `cleanup-tokens` → `CLEANUP_TOKENS`, as in `JOB_CLEANUP_TOKENS_ENABLED`. */
export const jobEnvName = (job: JobName) => job.toUpperCase().replace(/-/g, '_');

/**
 * An operator's command that does a scheduled job's work on demand and records itself in
 * job_runs under its own name (contract: `export --user` records itself as `export`): never
 * scheduled, monitored (heartbeat, metrics, `status --check`) or turned off by JOB_<NAME>_ENABLED.
 */
export type OnDemandCommand = 'export';
