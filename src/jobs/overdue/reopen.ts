import { lockFreeStep } from '../../core/batches.js';
import { queryIds } from '../../core/sql.js';

/**
 * Overdue tasks that are no longer overdue go back to `open` (and lose `overdue_at`, so a later
 * lapse is stamped afresh). Two steps, each served by its own partial index, share one update.
 */
const reopen = (name: string, whyNoLongerOverdue: string) =>
  lockFreeStep({
    name,
    eligible: { table: 'tasks', where: `status = 'overdue' AND ${whyNoLongerOverdue}` },

    async apply(trx, ctx, target) {
      return {
        done: await queryIds(
          trx,
          `UPDATE tasks SET status = 'open', overdue_at = NULL
            WHERE ${target.where}
              AND status = 'overdue' AND (completed OR due_date IS NULL OR due_date >= :now)
            RETURNING id`,
          { ...target.bindings, now: ctx.now },
        ),
      };
    },
  });

/** Due date moved to now or later (due exactly now is not overdue). */
export const reopenRescheduled = reopen('reopened_rescheduled', 'NOT completed AND due_date >= :now');

/** Completed since, or no longer has a due date. */
export const reopenSettled = reopen('reopened_settled', '(completed OR due_date IS NULL)');
