import { lockFreeStep } from '../../core/batches.js';
import { query } from '../../core/sql.js';

const OPEN_AND_PAST_DUE = "status = 'open' AND NOT completed AND due_date IS NOT NULL AND due_date < :now";

/**
 * Open, unfinished tasks whose due date has passed (strictly: due exactly now is not overdue)
 * become `overdue`, stamped with the run's now. With OVERDUE_NOTIFY, the same statement queues
 * one notification per task and due date; the dedupe key makes a second one impossible.
 */
export const markOverdue = lockFreeStep({
  name: 'marked_overdue',
  eligible: { table: 'tasks', where: OPEN_AND_PAST_DUE, orderBy: 'due_date' },

  async apply(trx, ctx, target) {
    const [result] = await query<{ ids: string[]; notified: number }>(
      trx,
      `WITH marked AS (
         UPDATE tasks SET status = 'overdue', overdue_at = :now
          WHERE ${target.where} AND ${OPEN_AND_PAST_DUE}
         RETURNING id, user_id, title, due_date
       ), queued AS (
         INSERT INTO notifications (user_id, title, body, url, data, channels, source, dedupe_key, run_after)
         SELECT user_id, left('Overdue: ' || title, 200), 'This task is past its due date.', '/tasks/' || id,
                jsonb_build_object('task_id', id, 'due_date', due_date), '{web}', 'overdue',
                'overdue:' || id || ':' || to_char(due_date AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'), :now
           FROM marked
          WHERE :notify
         ON CONFLICT (dedupe_key) DO NOTHING
         RETURNING 1
       )
       SELECT coalesce((SELECT array_agg(id::text) FROM marked), '{}') AS ids,
              (SELECT count(*)::int FROM queued) AS notified`,
      { ...target.bindings, now: ctx.now, notify: ctx.config.overdueNotify },
    );
    return { done: result.ids, counts: { notified: result.notified } };
  },
});
