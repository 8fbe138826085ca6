import type { SerializedStep } from '../../core/batches.js';
import { query, sql } from '../../core/sql.js';
import { ID_SAMPLE_LIMIT } from '../../core/tally.js';
import type { OverdueSettings } from './index.js';

/**
 * Open, unfinished tasks whose due date has passed (strictly: due exactly now is not overdue)
 * become `overdue`, stamped with the run's now. With `settings.notify` (OVERDUE_NOTIFY), the
 * same statement queues one notification per task and due date; the dedupe key makes a second
 * one impossible. It returns how many it marked and the first of their ids, not every id of the batch.
 */
export const markOverdue = (settings: OverdueSettings): SerializedStep => ({
  name: 'marked_overdue',
  eligible: {
    table: 'tasks',
    where: (ctx) => sql`status = 'open' AND NOT completed AND due_date IS NOT NULL AND due_date < ${ctx.now}`,
    cursor: { column: 'due_date', type: 'timestamptz' },
  },

  async apply(trx, ctx, target) {
    const [result] = await query<{ marked: number; sample: string[]; notified: number }>(
      trx,
      sql`/* planner-jobs:overdue.markOverdue */
       WITH marked AS (
         UPDATE tasks SET status = 'overdue', overdue_at = ${ctx.now}
          WHERE ${target}
         RETURNING id, user_id, title, due_date
       ), queued AS (
         INSERT INTO notifications (user_id, title, body, url, data, channels, source, dedupe_key, run_after)
         SELECT user_id, left('Overdue: ' || title, 200), 'This task is past its due date.', '/tasks/' || id,
                jsonb_build_object('task_id', id, 'due_date', due_date), '{web}', 'overdue',
                'overdue:' || id || ':' || to_char(due_date AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'), ${ctx.now}
           FROM marked
          WHERE ${settings.notify}
         ON CONFLICT (dedupe_key) DO NOTHING
         RETURNING 1
       )
       SELECT (SELECT count(*)::int FROM marked) AS marked,
              coalesce((SELECT array_agg(id::text) FROM (SELECT id FROM marked LIMIT ${ID_SAMPLE_LIMIT}) first), '{}') AS sample,
              (SELECT count(*)::int FROM queued) AS notified`,
    );
    return { done: { count: result.marked, sample: result.sample }, counts: { notified: result.notified } };
  },
});
