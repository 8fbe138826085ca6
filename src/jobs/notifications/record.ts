import type { RunContext } from '../../core/runner.js';
import { query } from '../../core/sql.js';
import type { Settlement } from './settle.js';
import type { Delivery } from './types.js';

export interface Attempt {
  settlement: Settlement;
  deliveries: Delivery[];
}

/** What happened to each subscription this batch; `gone` wins over anything else, then quarantine. */
function subscriptionFacts(attempts: readonly Attempt[]) {
  const rank = { gone: 4, quarantine: 3, delivered: 2, failed: 1 } as const;
  const facts = new Map<string, { id: string; fact: keyof typeof rank; reason: string | null }>();
  for (const d of attempts.flatMap((a) => a.deliveries)) {
    if (!d.subscription_id) continue;
    const fact = d.quarantine ? 'quarantine' : d.outcome === 'retry' ? 'failed' : d.outcome;
    const known = facts.get(d.subscription_id);
    if (!known || rank[fact] > rank[known.fact]) facts.set(d.subscription_id, { id: d.subscription_id, fact, reason: d.error });
  }
  return [...facts.values()];
}

/**
 * Writes a batch's outcomes in one short transaction. The fence: only notifications still
 * `processing` with the lease token this run claimed them with are written; a run whose
 * lease expired and was claimed again by another run writes nothing for it (the newer attempt
 * owns it). What the push service said about a subscription is a fact either way: a gone
 * subscription is deleted, a working one stamped `last_success_at`, a failing one counted.
 * Returns the ids that were fenced out.
 */
export async function recordAttempts(ctx: RunContext, attempts: readonly Attempt[]): Promise<string[]> {
  if (attempts.length === 0) return [];
  const settlements = attempts.map((a) => a.settlement);
  return ctx.db.transaction(async (trx) => {
    const fenced = (
      await query<{ id: string }>(
        trx,
        `SELECT n.id FROM notifications n
           JOIN json_to_recordset(:settlements::json) AS s (id uuid, lease_token uuid) ON s.id = n.id AND s.lease_token = n.lease_token
          WHERE n.status = 'processing'
          ORDER BY n.id
          FOR UPDATE OF n`,
        { settlements: JSON.stringify(settlements) },
      )
    ).map((row) => row.id);
    const owned = new Set(fenced);
    const facts = subscriptionFacts(attempts);
    // Workers delivering to the same subscriptions lock them in one order, before the
    // deliveries' foreign-key checks share-lock them, so they queue instead of deadlocking.
    await query(
      trx,
      `SELECT 1 FROM push_subscriptions WHERE id = ANY (:ids::uuid[]) ORDER BY id FOR UPDATE`,
      { ids: facts.map((f) => f.id) },
    );
    const deliveries = attempts
      .filter((a) => owned.has(a.settlement.id))
      .flatMap((a) => a.deliveries.map((d) => ({ ...d, notification_id: a.settlement.id })));
    await query(
      trx,
      `INSERT INTO notification_deliveries (notification_id, channel, subscription_id, status_code, outcome, error, attempted_at)
       SELECT d.notification_id, d.channel, s.id, d.status_code, d.outcome, d.error, :now
         FROM json_to_recordset(:deliveries::json)
              AS d (notification_id uuid, channel text, subscription_id uuid, status_code int, outcome text, error text)
         LEFT JOIN push_subscriptions s ON s.id = d.subscription_id`,
      { now: ctx.now, deliveries: JSON.stringify(deliveries) },
    );
    await query(
      trx,
      `WITH fact AS (
         SELECT * FROM json_to_recordset(:facts::json) AS f (id uuid, fact text, reason text)
       ), delivered AS (
         UPDATE push_subscriptions s SET last_success_at = :now, failure_count = 0
           FROM fact WHERE s.id = fact.id AND fact.fact = 'delivered'
       ), failing AS (
         UPDATE push_subscriptions s SET failure_count = s.failure_count + 1
           FROM fact WHERE s.id = fact.id AND fact.fact = 'failed'
       ), quarantined AS (
         UPDATE push_subscriptions s SET quarantined_at = :now, quarantine_reason = fact.reason
           FROM fact WHERE s.id = fact.id AND fact.fact = 'quarantine'
       )
       DELETE FROM push_subscriptions s USING fact WHERE s.id = fact.id AND fact.fact = 'gone'`,
      { now: ctx.now, facts: JSON.stringify(facts) },
    );
    await query(
      trx,
      `UPDATE notifications n
          SET status = s.status, locked_until = NULL, last_error = s.last_error,
              run_after = coalesce(s.run_after, n.run_after),
              sent_at = CASE WHEN s.status = 'sent' THEN :now ELSE n.sent_at END
         FROM json_to_recordset(:settlements::json) AS s (id uuid, status text, run_after timestamptz, last_error text)
        WHERE n.id = s.id AND n.id = ANY (:fenced::uuid[])`,
      { now: ctx.now, settlements: JSON.stringify(settlements), fenced },
    );
    return settlements.filter((s) => !owned.has(s.id)).map((s) => s.id);
  });
}
