import type { Step } from '../../core/batches.js';
import { query, sql } from '../../core/sql.js';
import { zoneMapTable, type ZoneResolution } from '../../core/timezones.js';
import type { RemindersSettings } from './index.js';

/**
 * Due, unsent reminders (`remind_at <= now`), oldest first. One statement per batch decides each
 * reminder's outcome, queues the notifications and marks the reminders, so a reminder is marked
 * sent in the same transaction that queues it; the dedupe key `reminder:<id>` makes a second
 * notification impossible even if a reminder were ever reset by hand.
 *
 * - skipped: its task is completed or gone (no foreign key: a deleted task leaves its reminder);
 * - expired: older than REMINDER_MAX_LATENESS (the job was down), rather than a flood of stale alerts;
 * - queued: a notification titled with the reminder's message or the task's title, its body the
 *   task's due time in the IANA zone the user's stored zone resolves to, named in the body
 *   (`resolveZones`, read once per run; UTC when it resolves to none).
 */
export function queueDueReminders(zones: ZoneResolution, settings: RemindersSettings): Step {
  // Where the last batch ended: each claim continues from there instead of walking again over
  // the index entries of reminders this run already sent (they stay in the partial index until
  // vacuum). A reminder left behind (locked by another run that then failed) is due again for
  // the next run.
  let after: Date | '-infinity' = '-infinity';
  return {
    name: 'queued',

    async claim(trx, ctx, limit, exclude) {
      const rows = await query<{ id: string; remind_at: Date }>(
        trx,
        sql`/* planner-jobs:reminders.claimDue */ SELECT id, remind_at FROM reminders
          WHERE NOT sent AND remind_at <= ${ctx.now} AND remind_at >= ${after}
            AND id <> ALL (${exclude}::uuid[])
          ORDER BY remind_at
          LIMIT ${limit}
          FOR UPDATE SKIP LOCKED`,
      );
      if (rows.length > 0) after = rows[rows.length - 1].remind_at;
      return rows.map((row) => row.id);
    },

    async apply(trx, ctx, ids) {
      const oldest = new Date(ctx.now.getTime() - settings.maxLatenessMs);
      const [result] = await query<{ queued: string[]; skipped: string[]; expired: string[]; notified: number }>(
        trx,
        // The batch's tasks and users are named by key (`= ANY` of the batch's own ids), so each
        // batch reads only its rows instead of a hash join over the whole tasks table.
        sql`/* planner-jobs:reminders.queueDueReminders */ WITH batch AS (
         SELECT id, user_id, task_id, remind_at, channels, message FROM reminders
          WHERE id = ANY (${ids}::uuid[]) AND NOT sent
       ), due AS (
         SELECT r.id, r.user_id, r.task_id, r.remind_at, r.channels, r.message, t.title AS task_title, t.due_date,
                CASE WHEN r.task_id IS NOT NULL AND (t.id IS NULL OR t.completed) THEN 'skipped'
                     WHEN r.remind_at < ${oldest} THEN 'expired'
                     ELSE 'queued' END AS outcome,
                coalesce(zone_map.zone, 'UTC') AS zone
           FROM batch r
           JOIN users u ON u.id = r.user_id AND u.id = ANY (ARRAY(SELECT user_id FROM batch))
           LEFT JOIN ${zoneMapTable(zones)} ON zone_map.name = lower(u.timezone)
           LEFT JOIN tasks t ON t.id = r.task_id AND t.id = ANY (ARRAY(SELECT task_id FROM batch))
       ), queued AS (
         INSERT INTO notifications (user_id, title, body, url, data, channels, source, dedupe_key, run_after, created_at)
         SELECT user_id,
                left(coalesce(message, task_title, 'Reminder'), 200),
                nullif(concat_ws(' · ',
                  CASE WHEN message IS NOT NULL THEN task_title END,
                  'Due ' || to_char(due_date AT TIME ZONE zone, 'Dy DD Mon YYYY, HH24:MI') || ' (' || zone || ')'), ''),
                CASE WHEN task_id IS NOT NULL THEN '/tasks/' || task_id END,
                jsonb_build_object('reminder_id', id, 'task_id', task_id, 'remind_at', remind_at),
                channels, 'reminder', 'reminder:' || id, ${ctx.now}, ${ctx.now}
           FROM due
          WHERE outcome = 'queued'
         ON CONFLICT (dedupe_key) DO NOTHING
         RETURNING 1
       ), marked AS (
         UPDATE reminders r SET sent = true, sent_at = ${ctx.now}, outcome = due.outcome
           FROM due
          WHERE r.id = due.id AND r.id = ANY (${ids}::uuid[])
         RETURNING r.id, r.outcome
       )
       SELECT coalesce(array_agg(id::text) FILTER (WHERE outcome = 'queued'), '{}') AS queued,
              coalesce(array_agg(id::text) FILTER (WHERE outcome = 'skipped'), '{}') AS skipped,
              coalesce(array_agg(id::text) FILTER (WHERE outcome = 'expired'), '{}') AS expired,
              (SELECT count(*)::int FROM queued) AS notified
         FROM marked`,
      );
      return {
        done: result.queued,
        leftAlone: [
          { counter: 'skipped', ids: result.skipped },
          { counter: 'expired', ids: result.expired },
        ],
        counts: { notifications_queued: result.notified },
      };
    },
  };
}
