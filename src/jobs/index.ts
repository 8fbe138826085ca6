import type { Job } from '../core/runner.js';
import { cleanupTokensJob } from './cleanup-tokens/index.js';
import { exportsJob } from './exports/index.js';
import { notificationsJob } from './notifications/index.js';
import { overdueJob } from './overdue/index.js';
import { recurringJob } from './recurring/index.js';
import { remindersJob } from './reminders/index.js';
import { rolloverJob } from './rollover/index.js';
import { pruneJob } from './prune/index.js';

/** Every job, in the order the demo runs them. */
export const ALL_JOBS: readonly Job[] = [recurringJob, overdueJob, remindersJob, exportsJob, notificationsJob(), rolloverJob(), cleanupTokensJob, pruneJob];
