/** A push subscription still owed this notification. */
export interface Subscription {
  id: string;
  endpoint: string;
  p256dh: string;
  auth: string;
}

/** A notification this run holds the lease on, with what it still owes. */
export interface ClaimedNotification {
  id: string;
  user_id: string;
  title: string;
  body: string | null;
  url: string | null;
  data: Record<string, unknown>;
  source: string;
  created_at: Date;
  /** The attempt this run makes (counting this one). */
  attempts: number;
  /** New on every claim: the outcome is written only while the row still carries it. */
  lease_token: string;
  /** Active subscriptions without a final delivery yet (empty when push is off or not a `web` notification). */
  subscriptions: Subscription[];
  /** `chat` is one of its channels and has no final delivery yet. */
  chat_owed: boolean;
}

export type Outcome = 'delivered' | 'gone' | 'retry' | 'failed';

/** One attempt on one channel (and subscription): a `notification_deliveries` row. */
export interface Delivery {
  channel: 'web' | 'chat';
  subscription_id: string | null;
  status_code: number | null;
  outcome: Outcome;
  error: string | null;
  /** The service's `Retry-After`, for `retry`. */
  retryAfterMs?: number;
  /** A configuration problem (400/401/403): the notification fails and the run exits 1. */
  loud?: boolean;
  /** The message itself cannot be pushed (it cannot fit the size limit): the notification fails with this reason. */
  unsendable?: boolean;
  /** Unusable subscription keys or a refused endpoint: the subscription is quarantined, never sent to. */
  quarantine?: boolean;
}
