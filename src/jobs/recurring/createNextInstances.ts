import type { Step } from '../../core/batches.js';
import { query, sql, type Sql } from '../../core/sql.js';
import type { ItemFailure } from '../../core/tally.js';
import { zoneMapTable, type ZoneResolution } from '../../core/timezones.js';

interface BatchResult {
  /** Sources whose next instance this batch created, and each one's due date. */
  created: { source: string; due: string }[];
  /** Sources that already had a child (made elsewhere): stamped as processed, nothing created. */
  had_child: string[];
  failures: ItemFailure[];
  reminders: number;
}

const ELIGIBLE = sql`is_recurring AND completed AND due_date IS NOT NULL AND last_processed_at IS NULL`;

/**
 * Claims eligible tasks oldest completion first (`FOR NO KEY UPDATE SKIP LOCKED`), with a keyset
 * cursor: each claim continues from the last `completed_at` the previous one reached (`>=`, so
 * tasks completed at the same instant are not lost) instead of stepping again over the index
 * entries of the tasks this run already processed, which stay in `tasks_recurring_pending_idx`
 * until vacuum (and past it while another session holds a snapshot). Tasks the API completed
 * without a time (`completed_at` NULL) come last, read from the start of their group. A task
 * locked by another run is skipped and left to it, or to the next run.
 */
function claimInCompletionOrder(): Step['claim'] {
  let after: string | undefined;
  return async (trx, _ctx, limit, exclude) => {
    const claim = (from: Sql, max: number) =>
      query<{ id: string; completed: string | null }>(
        trx,
        sql`/* planner-jobs:recurring.claim */ SELECT id, completed_at::text AS completed FROM tasks
          WHERE ${ELIGIBLE} AND ${from}
            AND id <> ALL (${exclude}::uuid[])
          ORDER BY completed_at
          LIMIT ${max}
          FOR NO KEY UPDATE SKIP LOCKED`,
      );
    const timed = await claim(
      after === undefined ? sql`completed_at IS NOT NULL` : sql`completed_at >= ${after}::timestamptz`,
      limit,
    );
    after = timed.at(-1)?.completed ?? after;
    const untimed = timed.length < limit ? await claim(sql`completed_at IS NULL`, limit - timed.length) : [];
    return [...timed, ...untimed].map((task) => task.id);
  };
}

/**
 * For each claimed task, one statement: the next due date from the series' anchor
 * (`recurrence_next_due`, the one definition of the calendar, in the migration), the new
 * instance (`ON CONFLICT (recurrence_parent_id) DO NOTHING`: the database refuses a second
 * child), its reminders at the same offset from the due date (`ON CONFLICT (carried_from)`),
 * and `last_processed_at` on the source. The owner's zone is the one its stored name resolves to
 * (`resolveZones`), never the stored string itself. Rows it cannot date come back as failures.
 */
export const createNextInstances = (zones: ZoneResolution): Step => ({
  name: 'instances_created',
  claim: claimInCompletionOrder(),

  async apply(trx, ctx, ids) {
    const [result] = await query<BatchResult>(
      trx,
      sql`/* planner-jobs:recurring.createNextInstances */ WITH source AS (
         -- The claimed rows are locked: their ctid stays valid for the update below.
         SELECT tasks.*, tasks.ctid AS row, u.timezone AS stored_zone, zone_map.zone AS timezone, zone_map.zone IS NOT NULL AS zone_known,
                -- Completed late: the next instance comes after the completion; early: after the due date.
                greatest(tasks.due_date, coalesce(tasks.completed_at, ${ctx.now})) AS after
           FROM unnest(${ids}::uuid[]) AS claimed (id)
           JOIN tasks ON tasks.id = claimed.id
           JOIN users u ON u.id = tasks.user_id
           LEFT JOIN ${zoneMapTable(zones)} ON zone_map.name = lower(u.timezone)
          WHERE ${ELIGIBLE}
       ), anchored AS (
         -- A task the API wrote has no anchor: its own due date, on the owner's wall clock, is one.
         SELECT source.*, CASE WHEN zone_known THEN coalesce(recurrence_anchor, due_date AT TIME ZONE timezone) END AS anchor
           FROM source
       ), dated AS MATERIALIZED (
         SELECT anchored.*, recurrence_next_due(anchor, timezone, recurrence_type, recurrence_interval, after) AS next_due
           FROM anchored
       ), created AS (
         INSERT INTO tasks (user_id, title, description, priority, tags, due_date, completed, status, is_recurring,
                            recurrence_type, recurrence_interval, recurrence_anchor, recurrence_parent_id, created_at, updated_at)
         SELECT user_id, title, description, priority, tags, next_due, false, 'open', true,
                recurrence_type, recurrence_interval, anchor, id, ${ctx.now}, ${ctx.now}
           FROM dated
          WHERE next_due IS NOT NULL
         ON CONFLICT (recurrence_parent_id) WHERE recurrence_parent_id IS NOT NULL DO NOTHING
         RETURNING id, recurrence_parent_id, due_date
       ), processed AS (
         UPDATE tasks SET last_processed_at = ${ctx.now}
           FROM dated
          WHERE tasks.ctid = dated.row AND dated.next_due IS NOT NULL
         RETURNING tasks.id
       ), carried AS (
         -- The exact duration before (or after) the due date, whatever the session's zone.
         INSERT INTO reminders (user_id, task_id, remind_at, channels, message, carried_from, created_at)
         SELECT r.user_id, created.id,
                created.due_date + (extract(epoch FROM r.remind_at) - extract(epoch FROM dated.due_date)) * interval '1 second',
                r.channels, r.message, r.id, ${ctx.now}
           FROM created
           JOIN dated ON dated.id = created.recurrence_parent_id
           JOIN reminders r ON r.task_id = dated.id
         ON CONFLICT (carried_from) DO NOTHING
         RETURNING 1
       )
       SELECT
         (SELECT coalesce(json_agg(json_build_object('source', recurrence_parent_id, 'due', due_date)), '[]') FROM created) AS created,
         (SELECT coalesce(array_agg(id::text), '{}') FROM processed
           WHERE id NOT IN (SELECT recurrence_parent_id FROM created)) AS had_child,
         (SELECT coalesce(json_agg(json_build_object('id', id, 'reason',
                   CASE WHEN NOT zone_known THEN format('the owner''s time zone %s is unknown', to_json(stored_zone))
                        ELSE 'the next due date overflows the calendar (after 9999-12-31)' END)), '[]')
            FROM dated WHERE next_due IS NULL) AS failures,
         (SELECT count(*)::int FROM carried) AS reminders`,
    );
    const created = result.created.map(({ source, due }) => ({ source, due: new Date(due).toISOString() }));
    const logAt = ctx.dryRun ? 'info' : 'debug';
    for (const { source, due } of created) {
      ctx.log[logAt](
        { taskId: source, nextDue: due },
        `${ctx.dryRun ? 'would create' : 'created'} the next instance of task ${source}, due ${due}`,
      );
    }
    return {
      done: created.map((row) => row.source),
      leftAlone: { counter: 'already_had_next_instance', ids: result.had_child },
      failures: result.failures,
      counts: { reminders_carried: result.reminders },
    };
  },
});
