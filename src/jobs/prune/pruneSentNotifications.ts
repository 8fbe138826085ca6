import type { SerializedStep } from '../../core/batches.js';
import { queryIds } from '../../core/sql.js';
import { RETENTION_CUTOFF, retentionBindings } from './cutoff.js';

/**
 * Notifications delivered before the cutoff are deleted (their delivery attempts go with them,
 * ON DELETE CASCADE). Pending, processing and failed ones stay: they are still work, or
 * evidence for an operator's `retry`.
 */
export const pruneSentNotifications: SerializedStep = {
  name: 'notifications_deleted',
  eligible: {
    table: 'notifications',
    where: `status = 'sent' AND sent_at < ${RETENTION_CUTOFF}`,
    cursor: { column: 'sent_at', type: 'timestamptz' },
    bindings: retentionBindings,
  },

  async apply(trx, _ctx, target) {
    return { done: await queryIds(trx, `DELETE FROM notifications WHERE ${target.where} RETURNING id`, target.bindings) };
  },
};
