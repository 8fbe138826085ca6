import type { RunContext } from '../../core/runner.js';
import { claimSet } from '../../core/lease.js';
import { query, sql } from '../../core/sql.js';
import type { ClaimedNotification } from './types.js';

/**
 * Leases up to `limit` notifications: pending ones whose time has come, and processing ones
 * whose lease ran out (a run that crashed or was killed). Each claim counts an attempt and
 * draws a new `lease_token`, the fencing token the outcome is later written with (core/lease.ts). Returned with what each still owes:
 * the user's active subscriptions that have no final delivery yet, and whether chat is owed.
 * One short transaction: nothing is sent while rows are locked.
 */
export async function claimNotifications(
  ctx: RunContext,
  limit: number,
  leaseUntil: Date,
  pushOn: boolean,
): Promise<ClaimedNotification[]> {
  return ctx.db.transaction((trx) =>
    query<ClaimedNotification>(
      trx,
      sql`/* planner-jobs:notifications.claim */ WITH due AS (
         SELECT id FROM notifications
          WHERE status = 'pending' AND run_after <= ${ctx.now}
          ORDER BY run_after
          LIMIT ${limit}
          FOR UPDATE SKIP LOCKED
       ), lease_expired AS (
         SELECT id FROM notifications
          WHERE status = 'processing' AND locked_until <= ${ctx.now}
          ORDER BY locked_until
          LIMIT ${limit}
          FOR UPDATE SKIP LOCKED
       ), claimed AS (
         UPDATE notifications n
            SET ${claimSet('n', leaseUntil)}
          WHERE n.id IN (SELECT id FROM lease_expired UNION ALL SELECT id FROM due LIMIT ${limit})
         RETURNING n.id, n.user_id, n.title, n.body, n.url, n.data, n.source, n.created_at, n.attempts, n.lease_token, n.channels
       )
       SELECT c.id, c.user_id, c.title, c.body, c.url, c.data, c.source, c.created_at, c.attempts, c.lease_token,
              coalesce((
                SELECT json_agg(json_build_object('id', s.id, 'endpoint', s.endpoint, 'p256dh', s.p256dh, 'auth', s.auth))
                  FROM push_subscriptions s
                 WHERE ${pushOn} AND 'web' = ANY (c.channels) AND s.user_id = c.user_id
                   AND s.quarantined_at IS NULL AND (s.expiration_time IS NULL OR s.expiration_time > ${ctx.now})
                   AND NOT EXISTS (SELECT 1 FROM notification_deliveries d
                                    WHERE d.notification_id = c.id AND d.subscription_id = s.id AND d.outcome <> 'retry')
              ), '[]') AS subscriptions,
              'chat' = ANY (c.channels)
                AND NOT EXISTS (SELECT 1 FROM notification_deliveries d
                                 WHERE d.notification_id = c.id AND d.channel = 'chat' AND d.outcome <> 'retry') AS chat_owed
         FROM claimed c`,
    ),
  );
}
