/**
 * The delivery rules in one place: how long a push may wait in the push service (TTL) and how
 * urgent it is. Leases, attempts and backoff are the queues' shared policy (core/lease.ts).
 */

/**
 * Delivery outcomes are written together this often (group commit): what a killed run sent in
 * its last interval is all it can have left unrecorded, besides the requests in flight.
 */
export const FLUSH_INTERVAL_MS = 5;

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

// The push and chat senders read `Retry-After` through here: the rule itself is the queues' one (core/lease.ts).
export { parseRetryAfter } from '../../core/lease.js';

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
