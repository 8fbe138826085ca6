import { runSteps } from '../../core/batches.js';
import type { Job } from '../../core/runner.js';
import { resolveZones } from '../../core/timezones.js';
import { queueDueReminders } from './queueDueReminders.js';

/**
 * Reminder Dispatcher (every minute; overlapping runs share the work through SKIP LOCKED):
 * each due, unsent reminder is, in one transaction with the others of its batch,
 * 1. skipped when its task is completed or deleted,
 * 2. expired when older than REMINDER_MAX_LATENESS,
 * 3. otherwise queued as a notification (`reminder:<id>`) for the `notifications` job,
 * and marked sent with its outcome.
 */
export const remindersJob: Job = {
  name: 'reminders',
  run: async (ctx) => runSteps(ctx, [queueDueReminders(await resolveZones(ctx.db, ctx.log))], 'rows'),
};
