import { runSteps } from '../../core/batches.js';
import type { Job } from '../../core/runner.js';
import { pruneJobRuns } from './pruneJobRuns.js';
import { pruneSentNotifications } from './pruneSentNotifications.js';

/**
 * Retention (daily, one run at a time): keeps `job_runs` and the notification inbox from
 * growing forever. In short batches, so no batch holds locks for long:
 * 1. delete runs that started more than RETENTION_DAYS before now;
 * 2. delete notifications sent more than RETENTION_DAYS before now.
 */
export const pruneJob: Job = {
  name: 'prune',
  run: (ctx) => runSteps(ctx, [pruneJobRuns, pruneSentNotifications], 'serialized'),
};
