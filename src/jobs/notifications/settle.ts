import { QUEUE_POLICIES, nextAttemptAt } from '../../core/lease.js';
import type { ClaimedNotification, Delivery } from './types.js';

export interface Settlement {
  id: string;
  /** The fencing token: written only if the row still carries it. */
  lease_token: string;
  status: 'sent' | 'pending' | 'failed';
  run_after: Date | null;
  last_error: string | null;
}

/**
 * A notification's state after this attempt. Deliveries still owed (`retry`) come back after the
 * queue's backoff (the longest `Retry-After` among them, when given) while attempts remain, else
 * the notification is `failed` with the error kept (core/lease.ts). A configuration problem
 * (400/401/403) or a message that cannot fit the push size limit fails it at once. Otherwise
 * every channel has a final outcome, and it is `sent` (`gone` subscriptions and quarantined keys
 * are final too). Pure: `random` (in [0, 1), like `Math.random`) draws the backoff's jitter.
 */
export function settle(
  notification: ClaimedNotification,
  deliveries: readonly Delivery[],
  now: Date,
  random: () => number = Math.random,
): Settlement {
  const retries = deliveries.filter((d) => d.outcome === 'retry');
  const fatal = deliveries.filter((d) => d.loud || d.unsendable);
  const base = { id: notification.id, lease_token: notification.lease_token, run_after: null };
  if (fatal.length > 0) return { ...base, status: 'failed', last_error: errors(fatal) };
  if (retries.length === 0)
    return { ...base, status: 'sent', last_error: errors(deliveries.filter((d) => d.outcome === 'failed')) };
  const retryAfters = retries.map((d) => d.retryAfterMs).filter((ms): ms is number => ms !== undefined);
  const retryAfterMs = retryAfters.length > 0 ? Math.max(...retryAfters) : undefined;
  const runAfter = nextAttemptAt(QUEUE_POLICIES.notifications, notification.attempts, now, { retryAfterMs, random });
  if (!runAfter)
    return { ...base, status: 'failed', last_error: `gave up after ${notification.attempts} attempts: ${errors(retries)}` };
  return { ...base, status: 'pending', run_after: runAfter, last_error: errors(retries) };
}

const errors = (deliveries: readonly Delivery[]) =>
  deliveries.length === 0 ? null : [...new Set(deliveries.map((d) => `${d.channel}: ${d.error}`))].join('; ').slice(0, 2000);
