import type { Eligibility, SerializedStep } from '../../core/batches.js';
import type { RunContext } from '../../core/runner.js';
import { queryIds, sql, type Sql } from '../../core/sql.js';
import type { Counter } from '../../core/tally.js';

/**
 * Overdue tasks that are no longer overdue go back to `open` (and lose `overdue_at`, so a later
 * lapse is stamped afresh). Two steps, each served by its own partial index, share one update.
 */
const reopen = (name: Counter, whyNoLongerOverdue: (ctx: RunContext) => Sql, cursor: Eligibility['cursor']): SerializedStep => ({
  name,
  eligible: { table: 'tasks', where: (ctx) => sql`status = 'overdue' AND ${whyNoLongerOverdue(ctx)}`, cursor },

  async apply(trx, _ctx, target) {
    return {
      done: await queryIds(
        trx,
        sql`/* planner-jobs:overdue.reopen */ UPDATE tasks SET status = 'open', overdue_at = NULL WHERE ${target} RETURNING id`,
      ),
    };
  },
});

/** Due date moved to now or later (due exactly now is not overdue); in due order (`tasks_overdue_due_idx`). */
export const reopenRescheduled = reopen('reopened_rescheduled', (ctx) => sql`NOT completed AND due_date >= ${ctx.now}`, {
  column: 'due_date',
  type: 'timestamptz',
});

/** Completed since, or no longer has a due date; in id order (`tasks_overdue_settled_idx`). */
export const reopenSettled = reopen('reopened_settled', () => sql`(completed OR due_date IS NULL)`, {
  column: 'id',
  type: 'uuid',
});
