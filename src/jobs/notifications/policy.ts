/**
 * The delivery rules in one place: how long a push may wait in the push service (TTL), how
 * urgent it is, how long to wait before a retry, and how many attempts a notification gets.
 */

/** Attempts per notification before the channels still owing a delivery give up (`failed`). */
export const MAX_ATTEMPTS = 5;
/** First retry after about this long; doubles per attempt (with jitter), up to `MAX_RETRY_DELAY_MS`. */
export const BASE_RETRY_DELAY_MS = 30_000;
/** Also the cap on a push service's or webhook's `Retry-After`. */
export const MAX_RETRY_DELAY_MS = 3_600_000;
/**
 * Delivery outcomes are written together this often (group commit): what a killed run sent in
 * its last interval is all it can have left unrecorded, besides the requests in flight.
 */
export const FLUSH_INTERVAL_MS = 5;
/** A claimed notification stays leased this long past the run's now (plus the run's elapsed time). */
export const LEASE_MS = 5 * 60_000;

type Urgency = 'very-low' | 'low' | 'normal' | 'high';
const URGENCIES: readonly string[] = ['very-low', 'low', 'normal', 'high'];

/** Per source: how long the message stays useful, and its Web Push urgency. */
const BY_SOURCE: Record<string, { ttlSeconds: number; urgency: Urgency }> = {
  // A reminder is useless tomorrow: if the device is offline for an hour, drop it.
  reminder: { ttlSeconds: 3600, urgency: 'high' },
  overdue: { ttlSeconds: 12 * 3600, urgency: 'normal' },
  export: { ttlSeconds: 24 * 3600, urgency: 'normal' },
};
const DEFAULT_POLICY = { ttlSeconds: 24 * 3600, urgency: 'normal' as Urgency };

export interface PushPolicyInput {
  source: string;
  data: Record<string, unknown>;
  created_at: Date;
}

/**
 * TTL and Urgency of a push: `data.ttl_seconds` / `data.urgency` when the producer set them,
 * else the source's; the TTL shrinks by the notification's age, so a retry never outlives it.
 */
export function pushPolicy(notification: PushPolicyInput, now: Date): { ttlSeconds: number; urgency: Urgency } {
  const base = BY_SOURCE[notification.source] ?? DEFAULT_POLICY;
  const { ttl_seconds: ttl, urgency } = notification.data;
  const ttlSeconds = Number.isInteger(ttl) && (ttl as number) >= 0 ? (ttl as number) : base.ttlSeconds;
  const ageSeconds = Math.max(0, Math.floor((now.getTime() - notification.created_at.getTime()) / 1000));
  return {
    ttlSeconds: Math.max(0, ttlSeconds - ageSeconds),
    urgency: typeof urgency === 'string' && URGENCIES.includes(urgency) ? (urgency as Urgency) : base.urgency,
  };
}

/**
 * When the next attempt may run: the service's `Retry-After` when it gave one (capped), else
 * exponential backoff with jitter (half fixed, half random) so retries of one outage spread out.
 */
export function retryDelayMs(attempts: number, retryAfterMs?: number, random = Math.random): number {
  // At least a second: a retry is never due again within the run that scheduled it.
  if (retryAfterMs !== undefined) return Math.min(MAX_RETRY_DELAY_MS, Math.max(1000, retryAfterMs));
  const ceiling = Math.min(MAX_RETRY_DELAY_MS, BASE_RETRY_DELAY_MS * 2 ** Math.max(0, attempts - 1));
  return Math.round(ceiling / 2 + random() * (ceiling / 2));
}

/** `Retry-After` as milliseconds: delta-seconds or an HTTP date; undefined when absent or unreadable. */
export function parseRetryAfter(value: string | null | undefined, clockMs = Date.now()): number | undefined {
  if (!value) return undefined;
  if (/^\s*\d+\s*$/.test(value)) return Number(value) * 1000;
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - clockMs);
}

/** The Web Push `Topic` of a notification: the same on every retry, so a duplicate replaces itself. */
export const pushTopic = (notificationId: string) => Buffer.from(notificationId.replace(/-/g, ''), 'hex').toString('base64url');

export interface NotificationsOptions {
  /**
   * Requests in flight at once, all channels and origins together, counting those answered but
   * not yet recorded: also the most a killed run can leave to be sent again.
   */
  concurrency: number;
  /** Open connections per push-service origin. */
  connectionsPerOrigin: number;
  requestTimeoutMs: number;
}

export const DEFAULT_NOTIFICATIONS_OPTIONS: NotificationsOptions = {
  concurrency: 64,
  connectionsPerOrigin: 16,
  requestTimeoutMs: 10_000,
};
