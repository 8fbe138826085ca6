import type { RunContext } from '../../core/runner.js';
import { stillHeld } from '../../core/lease.js';
import { Sql, query, sql } from '../../core/sql.js';
import type { Settlement } from './settle.js';
import type { ClaimedNotification, Delivery } from './types.js';

export interface Attempt {
  settlement: Settlement;
  deliveries: Delivery[];
}

/** Outcomes to write for one notification: some of its deliveries, and its settlement once the last one is in. */
interface Outcome {
  id: string;
  lease_token: string;
  deliveries: Delivery[];
  settlement?: Settlement;
}

/** What happened to each subscription; `gone` wins over anything else, then quarantine. */
function subscriptionFacts(outcomes: readonly Outcome[]) {
  const rank = { gone: 4, quarantine: 3, delivered: 2, failed: 1 } as const;
  const facts = new Map<string, { id: string; fact: keyof typeof rank; reason: string | null }>();
  for (const d of outcomes.flatMap((o) => o.deliveries)) {
    if (!d.subscription_id) continue;
    const fact = d.quarantine ? 'quarantine' : d.outcome === 'retry' ? 'failed' : d.outcome;
    const known = facts.get(d.subscription_id);
    if (!known || rank[fact] > rank[known.fact]) facts.set(d.subscription_id, { id: d.subscription_id, fact, reason: d.error });
  }
  return [...facts.values()];
}

interface Waiting extends Outcome {
  recorded(owned: boolean): void;
  failed(err: unknown): void;
}

/**
 * Group commit of delivery outcomes: each delivery is handed over as soon as it completes, and
 * what was handed over is written together every `intervalMs` (one flush at a time; what
 * arrives during a flush goes into the next). A run killed at any moment has therefore left
 * unwritten only the deliveries of the last interval, so the next run re-sends no more than
 * those and the requests that were in flight. When a flush fails (the database went away), it
 * and every later `record` reject with that error: the run stops.
 */
export class DeliveryRecorder {
  private waiting: Waiting[] = [];
  /** When the oldest waiting outcome was handed over. */
  private waitingSince = 0;
  private timer?: NodeJS.Timeout;
  private flushing = false;
  private failure?: { err: unknown };

  constructor(
    private readonly ctx: RunContext,
    private readonly intervalMs: number,
  ) {}

  /**
   * Queues one notification's deliveries (and its settlement, with its last delivery) for the
   * next flush. Resolves once written: true, or false when the notification was fenced out
   * (another run holds its lease now; nothing of it was written). Rejects when the flush failed.
   */
  record(notification: ClaimedNotification, deliveries: Delivery[], settlement?: Settlement): Promise<boolean> {
    if (this.failure) return Promise.reject(this.failure.err);
    return new Promise((recorded, failed) => {
      const { id, lease_token } = notification;
      if (this.waiting.length === 0) this.waitingSince = Date.now();
      this.waiting.push({ id, lease_token, deliveries, settlement, recorded, failed });
      this.schedule();
    });
  }

  /** Stops the timer; every `record` has settled by the time the run's sends are all awaited. */
  close(): void {
    clearTimeout(this.timer);
  }

  /** The next flush, `intervalMs` after the oldest waiting outcome came (at once if a flush already made it wait that long). */
  private schedule(): void {
    if (this.timer || this.flushing || this.waiting.length === 0) return;
    const delay = Math.max(0, this.waitingSince + this.intervalMs - Date.now());
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.flushing = true;
      void this.flush().finally(() => {
        this.flushing = false;
        this.schedule();
      });
    }, delay);
  }

  private async flush(): Promise<void> {
    const batch = this.waiting.splice(0);
    try {
      const fencedOut = new Set(await recordOutcomes(this.ctx, batch));
      for (const outcome of batch) outcome.recorded(!fencedOut.has(outcome.id));
    } catch (err) {
      this.failure = { err };
      for (const outcome of [...batch, ...this.waiting.splice(0)]) outcome.failed(err);
    }
  }
}

/**
 * Writes outcomes in one short transaction of two statements. The fence: only notifications
 * still `processing` with the lease token this run claimed them with are written; a run whose
 * lease expired and was claimed again by another run writes nothing for it (the newer attempt
 * owns it). What the push service said about a subscription is a fact either way: a gone
 * subscription is deleted, a working one stamped `last_success_at`, a failing one counted.
 * Returns the ids that were fenced out.
 */
async function recordOutcomes(ctx: RunContext, outcomes: readonly Outcome[]): Promise<string[]> {
  if (outcomes.length === 0) return [];
  const leases = [...new Map(outcomes.map((o) => [o.id, { id: o.id, lease_token: o.lease_token }])).values()];
  const settlements = outcomes.flatMap((o) => (o.settlement ? [o.settlement] : []));
  const facts = subscriptionFacts(outcomes);
  return ctx.db.transaction(async (trx) => {
    // Every row the writes below touch is locked first, in one order that every run shares:
    // the notifications still held (by id), then the subscriptions (by id), the latter only once
    // the former are locked (its condition reads `fenced`). Workers delivering to the same
    // subscriptions so queue instead of deadlocking, and the deliveries' foreign-key checks find
    // their rows already locked.
    const fenced = (
      await query<{ id: string }>(
        trx,
        sql`/* planner-jobs:notifications.fence */ WITH fenced AS (
           SELECT n.id FROM notifications n
             JOIN json_to_recordset(${JSON.stringify(leases)}::json) AS s (id uuid, lease_token uuid) ON s.id = n.id
            WHERE ${stillHeld('n', Sql.text('s.lease_token'))}
            ORDER BY n.id
            FOR UPDATE OF n
         ), locked AS (
           SELECT id FROM push_subscriptions
            WHERE id = ANY (${facts.map((f) => f.id)}::uuid[]) AND (SELECT count(*) FROM fenced) >= 0
            ORDER BY id
            FOR UPDATE
         )
         SELECT id FROM fenced WHERE (SELECT count(*) FROM locked) >= 0`,
      )
    ).map((row) => row.id);
    const owned = new Set(fenced);
    const deliveries = outcomes
      .filter((o) => owned.has(o.id))
      .flatMap((o) => o.deliveries.map((d) => ({ ...d, notification_id: o.id })));
    // A flush every few milliseconds: with nothing to write, the statement is not sent.
    if (deliveries.length > 0 || facts.length > 0 || settlements.length > 0)
      await query(
        trx,
        // One statement, its parts on disjoint rows. A delivery to a subscription deleted as gone
        // keeps no reference to it, as ON DELETE SET NULL leaves the older ones.
        `/* planner-jobs:notifications.record */ WITH fact AS (
         SELECT * FROM json_to_recordset(:facts::json) AS f (id uuid, fact text, reason text)
       ), recorded AS (
         INSERT INTO notification_deliveries (notification_id, channel, subscription_id, status_code, outcome, error, attempted_at)
         SELECT d.notification_id, d.channel, CASE WHEN gone.id IS NULL THEN s.id END, d.status_code, d.outcome, d.error, :now
           FROM json_to_recordset(:deliveries::json)
                AS d (notification_id uuid, channel text, subscription_id uuid, status_code int, outcome text, error text)
           LEFT JOIN push_subscriptions s ON s.id = d.subscription_id
           LEFT JOIN fact gone ON gone.id = d.subscription_id AND gone.fact = 'gone'
       ), delivered AS (
         UPDATE push_subscriptions s SET last_success_at = :now, failure_count = 0
           FROM fact WHERE s.id = fact.id AND fact.fact = 'delivered'
       ), failing AS (
         UPDATE push_subscriptions s SET failure_count = s.failure_count + 1
           FROM fact WHERE s.id = fact.id AND fact.fact = 'failed'
       ), quarantined AS (
         UPDATE push_subscriptions s SET quarantined_at = :now, quarantine_reason = fact.reason
           FROM fact WHERE s.id = fact.id AND fact.fact = 'quarantine'
       ), deleted AS (
         DELETE FROM push_subscriptions s USING fact WHERE s.id = fact.id AND fact.fact = 'gone'
       )
       UPDATE notifications n
          SET status = s.status, locked_until = NULL, last_error = s.last_error,
              run_after = coalesce(s.run_after, n.run_after),
              sent_at = CASE WHEN s.status = 'sent' THEN :now ELSE n.sent_at END
         FROM json_to_recordset(:settlements::json) AS s (id uuid, status text, run_after timestamptz, last_error text)
        WHERE n.id = s.id AND n.id = ANY (:fenced::uuid[])`,
        {
          now: ctx.now,
          facts: JSON.stringify(facts),
          deliveries: JSON.stringify(deliveries),
          settlements: JSON.stringify(settlements),
          fenced,
        },
      );
    return leases.filter((lease) => !owned.has(lease.id)).map((lease) => lease.id);
  });
}
