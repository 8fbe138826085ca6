import { lockFreeStep } from '../../core/batches.js';
import { queryIds } from '../../core/sql.js';
import { RETENTION_CUTOFF, retentionBindings } from './cutoff.js';

const SENT_BEFORE_CUTOFF = `status = 'sent' AND sent_at < ${RETENTION_CUTOFF}`;

/**
 * Notifications delivered before the cutoff are deleted (their delivery attempts go with them,
 * ON DELETE CASCADE). Pending, processing and failed ones stay: they are still work, or
 * evidence for an operator's `retry`.
 */
export const pruneSentNotifications = lockFreeStep({
  name: 'notifications_deleted',
  eligible: { table: 'notifications', where: SENT_BEFORE_CUTOFF, orderBy: 'sent_at', bindings: retentionBindings },

  async apply(trx, ctx, target) {
    return {
      done: await queryIds(trx, `DELETE FROM notifications WHERE ${target.where} AND ${SENT_BEFORE_CUTOFF} RETURNING id`, {
        ...target.bindings,
        ...retentionBindings(ctx),
      }),
    };
  },
});
