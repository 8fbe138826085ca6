import type { SerializedStep } from '../../core/batches.js';
import { queryIds, sql } from '../../core/sql.js';
import { retentionCutoff } from './cutoff.js';
import type { PruneSettings } from './index.js';

/**
 * Notifications delivered before the cutoff are deleted (their delivery attempts go with them,
 * ON DELETE CASCADE). Pending, processing and failed ones stay: they are still work, or
 * evidence for an operator's `retry`.
 */
export const pruneSentNotifications = (settings: PruneSettings): SerializedStep => ({
  name: 'notifications_deleted',
  eligible: {
    table: 'notifications',
    where: (ctx) => sql`status = 'sent' AND sent_at < ${retentionCutoff(ctx.now, settings.retentionDays)}`,
    cursor: { column: 'sent_at', type: 'timestamptz' },
  },

  async apply(trx, _ctx, target) {
    return {
      done: await queryIds(
        trx,
        sql`/* planner-jobs:prune.pruneSentNotifications */ DELETE FROM notifications WHERE ${target} RETURNING id`,
      ),
    };
  },
});
