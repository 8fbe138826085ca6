import { runSteps } from '../../core/batches.js';
import type { Config } from '../../core/config.js';
import type { Job } from '../../core/runner.js';
import { pruneJobRuns } from './pruneJobRuns.js';
import { pruneSentNotifications } from './pruneSentNotifications.js';

/** What the prune job reads from the configuration. */
export interface PruneSettings {
  /** RETENTION_DAYS: whole days of history kept before the run's now. */
  retentionDays: number;
}

export const pruneSettings = (config: Config): PruneSettings => ({ retentionDays: config.retentionDays });

/**
 * Retention (daily, one run at a time): keeps `job_runs` and the notification inbox from
 * growing forever. In short batches, so no batch holds locks for long:
 * 1. delete runs that started more than RETENTION_DAYS before now;
 * 2. delete notifications sent more than RETENTION_DAYS before now.
 */
export const pruneJob: Job = {
  name: 'prune',
  run(ctx) {
    const settings = pruneSettings(ctx.config);
    return runSteps(ctx, [pruneJobRuns(settings), pruneSentNotifications(settings)], 'serialized');
  },
};
