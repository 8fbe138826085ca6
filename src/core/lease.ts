import { Sql, sql } from './sql.js';

/**
 * The one lease-and-retry policy of the queue jobs (`notifications`, `exports`), so both queues
 * agree on what a claim is and what a failure costs:
 * - a claim sets the row `processing`, counts an attempt and draws a new `lease_token`
 *   (`claimSet`); it holds until `locked_until` (`leaseUntil`), after which any run may take
 *   the row over (a run that died or stalled);
 * - every write after the claim is fenced (`stillHeld`): it changes the row only while it is
 *   still `processing` under the claim's token, so a run whose lease expired and was taken over
 *   writes nothing;
 * - a failed attempt comes back after a backoff (`retryDelayMs`: exponential with jitter, or the
 *   service's `Retry-After`), until the item has used `maxAttempts` and is `failed` for good.
 */
export interface QueuePolicy {
  /** Claims an item gets; the failure of the last one is final. */
  maxAttempts: number;
  /** How long a claim holds past the run's clock's now, in milliseconds. */
  leaseMs: number;
  /** The backoff's ceiling before the first retry, in ms; it doubles per attempt, up to `maxDelayMs`. */
  baseDelayMs: number;
  /** The longest wait before a retry, in ms; also the cap on a `Retry-After`. */
  maxDelayMs: number;
}

/**
 * Both queues side by side. Notifications: a push is worth little late, so retries start within
 * 15 to 30 s; a claim covers one batch's deliveries (5 min). Exports: a retry waits at least a
 * minute (1, 2, 4, 8 minutes at the least), and a claim is renewed while the export streams, so
 * a short lease hands a dead run's export over soon.
 */
export const QUEUE_POLICIES = {
  notifications: { maxAttempts: 5, leaseMs: 5 * 60_000, baseDelayMs: 30_000, maxDelayMs: 3_600_000 },
  exports: { maxAttempts: 5, leaseMs: 120_000, baseDelayMs: 120_000, maxDelayMs: 3_600_000 },
} as const satisfies Record<string, QueuePolicy>;

/** A retry is never due within this long, so never again within the run that scheduled it. */
const MIN_RETRY_DELAY_MS = 1000;

/**
 * How long before the next attempt, after `attempts` claims, in ms: the service's `Retry-After`
 * when it gave one (between 1 s and `maxDelayMs`), else "equal jitter" backoff (AWS
 * Architecture Blog, "Exponential Backoff And Jitter"): the ceiling `baseDelayMs × 2^(attempts−1)`
 * (at most `maxDelayMs`), half of it fixed and half random, so the retries of one outage spread out.
 * `random` returns a number in [0, 1), like `Math.random`.
 */
export function retryDelayMs(policy: QueuePolicy, attempts: number, retryAfterMs?: number, random = Math.random): number {
  if (retryAfterMs !== undefined) return Math.min(policy.maxDelayMs, Math.max(MIN_RETRY_DELAY_MS, retryAfterMs));
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** Math.max(0, attempts - 1));
  return Math.round(ceiling / 2 + random() * (ceiling / 2));
}

/**
 * When an item that failed on its `attempts`-th claim may be tried again, from `now`; undefined
 * when that was its last attempt (it is `failed` for good).
 */
export function nextAttemptAt(
  policy: QueuePolicy,
  attempts: number,
  now: Date,
  { retryAfterMs, random = Math.random }: { retryAfterMs?: number; random?: () => number } = {},
): Date | undefined {
  if (attempts >= policy.maxAttempts) return undefined;
  return new Date(now.getTime() + retryDelayMs(policy, attempts, retryAfterMs, random));
}

/**
 * `Retry-After` (RFC 9110 §10.2.3) as milliseconds from `clockMs`: delta-seconds or an HTTP
 * date; undefined when absent or unreadable.
 */
export function parseRetryAfter(value: string | null | undefined, clockMs = Date.now()): number | undefined {
  if (!value) return undefined;
  if (/^\s*\d+\s*$/.test(value)) return Number(value) * 1000;
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - clockMs);
}

/** The end of a claim taken (or renewed) at `now` (a reading of the run's clock, `ctx.clock()`). */
export const leaseUntil = (policy: QueuePolicy, now: Date): Date => new Date(now.getTime() + policy.leaseMs);

/**
 * The claim's SET list: `processing`, one more attempt, a new fencing token, held until `until`.
 * `row` is the table's name or alias in the statement.
 */
export const claimSet = (row: string, until: Date): Sql =>
  sql`status = 'processing', attempts = ${Sql.text(row)}.attempts + 1, locked_until = ${until}, lease_token = gen_random_uuid()`;

/**
 * The fence: the row `row` is still this claim's, `processing` under the token `token` (the
 * claim's token as a value, or a column of the statement: `Sql.text('s.lease_token')`).
 */
export const stillHeld = (row: string, token: string | Sql): Sql =>
  sql`${Sql.text(row)}.status = 'processing' AND ${Sql.text(row)}.lease_token = ${token}`;
