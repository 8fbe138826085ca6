import { runSteps } from '../../core/batches.js';
import type { Config } from '../../core/config.js';
import type { Job } from '../../core/runner.js';
import { markOverdue } from './markOverdue.js';
import { reopenRescheduled, reopenSettled } from './reopen.js';

/** What the overdue job reads from the configuration. */
export interface OverdueSettings {
  /** OVERDUE_NOTIFY: queue one notification per newly overdue task. */
  notify: boolean;
}

export const overdueSettings = (config: Config): OverdueSettings => ({ notify: config.overdueNotify });

/**
 * Overdue Task Scanner (every 15 minutes, one run at a time):
 * 1. mark open tasks past their due date as overdue (and queue a notification when asked);
 * 2. put back to open the overdue tasks whose due date moved to the future;
 * 3. put back to open the overdue tasks that were completed or lost their due date.
 */
export const overdueJob: Job = {
  name: 'overdue',
  run: (ctx) => runSteps(ctx, [markOverdue(overdueSettings(ctx.config)), reopenRescheduled, reopenSettled], 'serialized'),
};
