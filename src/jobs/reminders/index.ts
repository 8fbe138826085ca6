import { runSteps } from '../../core/batches.js';
import type { Config } from '../../core/config.js';
import type { Job } from '../../core/runner.js';
import { query, sql } from '../../core/sql.js';
import { resolveZones } from '../../core/timezones.js';
import { queueDueReminders } from './queueDueReminders.js';

/** What the reminders job reads from the configuration. */
export interface RemindersSettings {
  /** REMINDER_MAX_LATENESS in milliseconds: a reminder due longer ago than this is expired, not sent. */
  maxLatenessMs: number;
}

export const remindersSettings = (config: Config): RemindersSettings => ({ maxLatenessMs: config.reminderMaxLatenessMs });

/**
 * Reminder Dispatcher (every minute; overlapping runs share the work through SKIP LOCKED):
 * each due, unsent reminder is, in one transaction with the others of its batch,
 * 1. skipped when its task is completed or deleted,
 * 2. expired when older than REMINDER_MAX_LATENESS,
 * 3. otherwise queued as a notification (`reminder:<id>`) for the `notifications` job,
 * and marked sent with its outcome. Following (PLANNER_FOLLOW), it then waits for the next
 * `remind_at` or a new reminder and queues it that second; the notification's insert wakes a
 * following `notifications` run, which delivers it at once.
 */
export const remindersJob: Job = {
  name: 'reminders',
  follow: {
    channel: 'planner_jobs_reminders',
    // reminders_due_idx (remind_at WHERE NOT sent): one index probe.
    nextDue: async (db, after) => {
      const [row] = await query<{ due: Date | null }>(
        db,
        sql`/* planner-jobs:reminders.nextDue */ SELECT min(remind_at) AS due FROM reminders WHERE NOT sent AND remind_at > ${after}`,
      );
      return row.due;
    },
  },
  async run(ctx) {
    const zones = await resolveZones(ctx.db, ctx.log);
    // A new step each round: its keyset cursor starts again, so a reminder written behind it is found.
    do await runSteps(ctx, [queueDueReminders(zones, remindersSettings(ctx.config))], 'rows');
    while (!ctx.shouldStop() && (await ctx.waitForWork()));
  },
};
