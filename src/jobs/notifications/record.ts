import type { Knex } from 'knex';
import type pg from 'pg';
import type { RunContext } from '../../core/runner.js';
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
 * Writes outcomes in one short transaction, sent as one round trip: the statements go together in
 * one simple-protocol query, which PostgreSQL runs as one transaction (all or nothing), with the
 * data as escaped literals, instead of seven round trips (BEGIN, five statements, COMMIT) every few
 * milliseconds while slots wait for the flush. The fence: only notifications still
 * `processing` with the lease token this run claimed them with are written; a run whose lease
 * expired and was claimed again by another run writes nothing for it (the newer attempt owns
 * it). The fenced rows are locked first, so the later statements see them as the fence did. What
 * the push service said about a subscription is a fact either way: a gone subscription is
 * deleted, a working one stamped `last_success_at`, a failing one counted.
 * Returns the ids that were fenced out.
 */
async function recordOutcomes(ctx: RunContext, outcomes: readonly Outcome[]): Promise<string[]> {
  if (outcomes.length === 0) return [];
  const json = (value: unknown) => `${literal(JSON.stringify(value))}::json`;
  const now = `${literal(ctx.now.toISOString())}::timestamptz`;
  const leases = json([...new Map(outcomes.map((o) => [o.id, { id: o.id, lease_token: o.lease_token }])).values()]);
  const settlements = outcomes.flatMap((o) => (o.settlement ? [{ ...o.settlement, lease_token: o.lease_token }] : []));
  const facts = subscriptionFacts(outcomes);
  const deliveries = outcomes.flatMap((o) => o.deliveries.map((d) => ({ ...d, id: o.id, lease_token: o.lease_token })));
  // Still leased by this run: the notification is processing under the token the outcome carries.
  const ownedBy = (alias: string) => `n.id = ${alias}.id AND n.lease_token = ${alias}.lease_token AND n.status = 'processing'`;
  const statements = [
    `SELECT n.id FROM notifications n
       JOIN json_to_recordset(${leases}) AS s (id uuid, lease_token uuid) ON ${ownedBy('s')}
      ORDER BY n.id
      FOR UPDATE OF n`,
  ];
  // A flush every few milliseconds: statements with nothing to write are not sent.
  // Workers delivering to the same subscriptions lock them in one order, before the
  // deliveries' foreign-key checks share-lock them, so they queue instead of deadlocking.
  if (facts.length > 0)
    statements.push(
      `SELECT 1 FROM push_subscriptions WHERE id = ANY (${literal(`{${facts.map((f) => f.id).join(',')}}`)}::uuid[]) ORDER BY id FOR UPDATE`,
    );
  if (deliveries.length > 0)
    statements.push(
      `INSERT INTO notification_deliveries (notification_id, channel, subscription_id, status_code, outcome, error, attempted_at)
       SELECT d.id, d.channel, s.id, d.status_code, d.outcome, d.error, ${now}
         FROM json_to_recordset(${json(deliveries)})
              AS d (id uuid, lease_token uuid, channel text, subscription_id uuid, status_code int, outcome text, error text)
         JOIN notifications n ON ${ownedBy('d')}
         LEFT JOIN push_subscriptions s ON s.id = d.subscription_id`,
    );
  if (facts.length > 0)
    statements.push(
      `WITH fact AS (
         SELECT * FROM json_to_recordset(${json(facts)}) AS f (id uuid, fact text, reason text)
       ), delivered AS (
         UPDATE push_subscriptions s SET last_success_at = ${now}, failure_count = 0
           FROM fact WHERE s.id = fact.id AND fact.fact = 'delivered'
       ), failing AS (
         UPDATE push_subscriptions s SET failure_count = s.failure_count + 1
           FROM fact WHERE s.id = fact.id AND fact.fact = 'failed'
       ), quarantined AS (
         UPDATE push_subscriptions s SET quarantined_at = ${now}, quarantine_reason = fact.reason
           FROM fact WHERE s.id = fact.id AND fact.fact = 'quarantine'
       )
       DELETE FROM push_subscriptions s USING fact WHERE s.id = fact.id AND fact.fact = 'gone'`,
    );
  if (settlements.length > 0)
    statements.push(
      `UPDATE notifications n
          SET status = s.status, locked_until = NULL, last_error = s.last_error,
              run_after = coalesce(s.run_after, n.run_after),
              sent_at = CASE WHEN s.status = 'sent' THEN ${now} ELSE n.sent_at END
         FROM json_to_recordset(${json(settlements)}) AS s (id uuid, lease_token uuid, status text, run_after timestamptz, last_error text)
        WHERE ${ownedBy('s')}`,
    );
  const [fence] = await inOneRoundTrip<{ id: string }>(ctx.db, statements);
  const owned = new Set(fence.map((row) => row.id));
  return [...new Set(outcomes.map((o) => o.id))].filter((id) => !owned.has(id));
}

/**
 * A PostgreSQL string literal, as libpq's PQescapeLiteral makes it: quotes doubled and, in an
 * E'' literal, backslashes too, so it reads the same whatever `standard_conforming_strings` is.
 * By regular expression: pg's escapeLiteral appends character by character, and a flush's JSON
 * is kilobytes (its garbage doubled the main thread's GC time).
 */
const literal = (text: string) =>
  text.includes('\\') ? ` E'${text.replace(/\\/g, '\\\\').replace(/'/g, "''")}'` : `'${text.replace(/'/g, "''")}'`;

/**
 * Runs statements (no parameters: values are literals) as one simple-protocol query on one pooled
 * connection: one round trip, one implicit transaction that commits at the end or rolls back
 * entirely on an error. Returns each statement's rows.
 */
async function inOneRoundTrip<FirstRow>(db: Knex, statements: string[]): Promise<[FirstRow[], ...unknown[][]]> {
  const connection = (await db.client.acquireConnection()) as pg.Client;
  try {
    const results = (await connection.query(statements.join(';\n'))) as unknown as pg.QueryResult | pg.QueryResult[];
    return [results].flat().map((result) => result.rows) as [FirstRow[], ...unknown[][]];
  } finally {
    await db.client.releaseConnection(connection);
  }
}
