import pLimit, { type LimitFunction } from 'p-limit';
import type { Config } from '../../core/config.js';
import type { FollowSource } from '../../core/follow.js';
import type { Job, RunContext } from '../../core/runner.js';
import { query, sql } from '../../core/sql.js';
import { ChatSender } from './chat.js';
import { claimNotifications } from './claim.js';
import { QUEUE_POLICIES, leaseUntil } from '../../core/lease.js';
import { DEFAULT_NOTIFICATIONS_OPTIONS, FLUSH_INTERVAL_MS, type NotificationsOptions } from './policy.js';
import { DeliveryRecorder, type Attempt } from './record.js';
import { settle, type Settlement } from './settle.js';
import type { Counter } from '../../core/tally.js';
import type { ClaimedNotification, Delivery, Outcome } from './types.js';
import { VapidSigner } from './vapid.js';
import { PushSender } from './webPush.js';

/** What the notifications job reads from the configuration: its channels and the push services it may reach. */
export type NotificationsSettings = Pick<Config, 'vapid' | 'chatWebhookUrl' | 'extraCaCertsFile' | 'pushAllowedHosts'>;

export const notificationsSettings = ({
  vapid,
  chatWebhookUrl,
  extraCaCertsFile,
  pushAllowedHosts,
}: Config): NotificationsSettings => ({
  vapid,
  chatWebhookUrl,
  extraCaCertsFile,
  pushAllowedHosts,
});

/**
 * Notification Sender (every minute; overlapping runs share the queue through leases):
 * 1. claim a batch of due notifications with a lease, in a short transaction;
 * 2. outside any transaction, deliver what each still owes: Web Push to every active
 *    subscription of its user (`web`; the row itself is the in-app notification) and a chat
 *    post (`chat`), with bounded concurrency overall and per push-service origin;
 * 3. record each delivery as it completes (group commit every FLUSH_INTERVAL_MS) and, with its
 *    last delivery, the notification's new state (sent / retry later / failed), fenced by the
 *    lease token so a run that lost its lease writes nothing;
 * until the queue is empty or the time budget is spent; following (PLANNER_FOLLOW), it then waits
 * for the next `run_after` or a new notification and claims it that second, until its window
 * ends. A dry run claims and reports, sends nothing.
 * A delivery holds its `concurrency` slot until it is recorded, so a run killed at any moment
 * leaves at most `concurrency` messages sent but unrecorded (sent again by the next run).
 */
export const notificationsJob = (options: NotificationsOptions = DEFAULT_NOTIFICATIONS_OPTIONS): Job => ({
  name: 'notifications',
  follow: followNotifications,
  async run(ctx) {
    const { push, chat } = openChannels(ctx, notificationsSettings(ctx.config), options);
    const recorder = new DeliveryRecorder(ctx, FLUSH_INTERVAL_MS);
    const limit = pLimit(options.concurrency);
    const deliver = async (batch: ClaimedNotification[]) => {
      await push?.prepare(batch);
      const attempts = await Promise.all(
        batch.map((notification) => {
          const sends: (() => Promise<Delivery>)[] = [];
          if (push)
            for (const subscription of notification.subscriptions) sends.push(() => push.send(subscription, notification));
          if (chat && notification.chat_owed) sends.push(() => chat.send(notification));
          return attempt(ctx, recorder, limit, notification, sends);
        }),
      );
      const fencedOut = attempts.filter((a) => !a.owned).map((a) => a.settlement.id);
      tallyBatch(ctx, batch, attempts, new Set(fencedOut));
      ctx.progress(`${ctx.tally.processed.toLocaleString('en')} notifications handled`);
    };
    // Two batches at a time: the next one is claimed while the last one's slowest requests
    // finish, so the connections never sit idle between batches.
    let previous: Promise<void> = Promise.resolve();
    try {
      while (!ctx.shouldStop()) {
        const until = leaseUntil(QUEUE_POLICIES.notifications, ctx.clock());
        const batch = await claimNotifications(ctx, ctx.batchSize, until, push !== undefined);
        if (batch.length === 0) {
          if (await ctx.waitForWork()) continue;
          break;
        }
        if (ctx.dryRun) {
          ctx.tally.done(
            'would_deliver',
            batch.map((n) => n.id),
          );
          continue;
        }
        const current = deliver(batch);
        current.catch(() => undefined); // awaited below; this only keeps it from counting as unhandled meanwhile
        await previous;
        previous = current;
      }
      await previous;
      if (chat?.dead) ctx.tally.fail([{ id: 'CHAT_WEBHOOK_URL', reason: chat.dead }]);
    } finally {
      await previous.catch(() => undefined);
      recorder.close();
      await push?.close();
    }
  },
});

/**
 * Wake-ups of a following run: the triggers' channel, and the next pending `run_after` or
 * expiring lease (notifications_pending_idx, notifications_leased_idx: one index probe each).
 */
const followNotifications: FollowSource = {
  channel: 'planner_jobs_notifications',
  nextDue: async (db, after) => {
    const [row] = await query<{ due: Date | null }>(
      db,
      sql`/* planner-jobs:notifications.nextDue */
        SELECT least((SELECT min(run_after) FROM notifications WHERE status = 'pending' AND run_after > ${after}),
                     (SELECT min(locked_until) FROM notifications WHERE status = 'processing' AND locked_until > ${after})) AS due`,
    );
    return row.due;
  },
};

/**
 * One notification's attempt: each send runs in a `limit` slot that it keeps until its outcome
 * is recorded; the settlement is computed and recorded with the last outcome. `owned` is false
 * when the lease was lost meanwhile (the settlement was not written).
 */
async function attempt(
  ctx: RunContext,
  recorder: DeliveryRecorder,
  limit: LimitFunction,
  notification: ClaimedNotification,
  sends: (() => Promise<Delivery>)[],
): Promise<Attempt & { owned: boolean }> {
  const deliveries: Delivery[] = [];
  let settled: { settlement: Settlement; owned: boolean } | undefined;
  const record = async (delivery?: Delivery) => {
    if (delivery) deliveries.push(delivery);
    const outcome = delivery ? [delivery] : [];
    if (deliveries.length < sends.length) return void (await recorder.record(notification, outcome));
    const settlement = settle(notification, deliveries, ctx.now);
    settled = { settlement, owned: await recorder.record(notification, outcome, settlement) };
  };
  if (sends.length === 0) await record();
  else await Promise.all(sends.map((send) => limit(async () => record(await send()))));
  return { deliveries, ...settled! };
}

/** The senders this run has; a channel that is not configured says so once and is left out. */
function openChannels(ctx: RunContext, settings: NotificationsSettings, options: NotificationsOptions) {
  const { vapid, chatWebhookUrl, extraCaCertsFile, pushAllowedHosts } = settings;
  if (!vapid) ctx.log.info('Web Push is off (VAPID_PUBLIC_KEY, VAPID_PRIVATE_KEY, VAPID_SUBJECT unset): in-app only');
  if (!chatWebhookUrl) ctx.log.info('chat is off (CHAT_WEBHOOK_URL unset)');
  const push =
    vapid && new PushSender(new VapidSigner(vapid), { ...options, extraCaCertsFile, allowedHosts: pushAllowedHosts }, ctx.now);
  const chat = chatWebhookUrl ? new ChatSender(chatWebhookUrl, options.requestTimeoutMs, ctx.log) : undefined;
  return { push, chat };
}

/** The counter of each delivery, by channel (`web` is Web Push) and outcome. */
const DELIVERY_COUNTERS = {
  web: {
    delivered: 'push_delivered',
    gone: 'push_gone',
    retry: 'push_retry',
    failed: 'push_failed',
    quarantined: 'push_quarantined',
  },
  chat: {
    delivered: 'chat_delivered',
    gone: 'chat_gone',
    retry: 'chat_retry',
    failed: 'chat_failed',
    quarantined: 'chat_quarantined',
  },
} as const satisfies Record<Delivery['channel'], Record<Outcome | 'quarantined', Counter>>;

/** Counts and log lines: per notification state, per delivery outcome and channel. */
function tallyBatch(ctx: RunContext, batch: ClaimedNotification[], attempts: Attempt[], fencedOut: Set<string>): void {
  if (fencedOut.size > 0) {
    ctx.log.warn(
      { ids: [...fencedOut] },
      `lease lost on ${fencedOut.size} notification(s): a newer attempt owns them; nothing written`,
    );
    ctx.tally.leaveAlone('lease_lost', [...fencedOut]);
  }
  const owned = attempts.filter((a) => !fencedOut.has(a.settlement.id));
  const ids = (status: string) => owned.filter((a) => a.settlement.status === status).map((a) => a.settlement.id);
  ctx.tally.done('sent', ids('sent'));
  ctx.tally.done('retry_scheduled', ids('pending'));
  const failed = owned.filter((a) => a.settlement.status === 'failed');
  ctx.tally.fail(failed.map((a) => ({ id: a.settlement.id, reason: a.settlement.last_error ?? 'failed' })));
  for (const a of owned) {
    for (const d of a.deliveries) {
      ctx.tally.count(DELIVERY_COUNTERS[d.channel][d.quarantine ? 'quarantined' : d.outcome], 1);
      if (d.loud)
        ctx.log.error(
          { id: a.settlement.id, subscriptionId: d.subscription_id, status: d.status_code },
          `${d.channel}: ${d.error} (check VAPID_* / the webhook configuration)`,
        );
    }
  }
  const retried = owned.filter((a) => a.settlement.status === 'pending');
  if (retried.length > 0)
    ctx.log.info({ ids: retried.map((a) => a.settlement.id) }, `${retried.length} notification(s) will be retried`);
  const quarantined = owned.flatMap((a) =>
    a.deliveries.filter((d) => d.quarantine).map((d) => ({ id: d.subscription_id, reason: d.error })),
  );
  if (quarantined.length > 0)
    ctx.log.warn({ subscriptions: quarantined }, `quarantined ${quarantined.length} push subscription(s) with unusable keys`);
  const gone = owned.flatMap((a) =>
    a.deliveries.filter((d) => d.outcome === 'gone' && d.subscription_id).map((d) => d.subscription_id),
  );
  if (gone.length > 0) ctx.log.info({ subscriptionIds: gone }, `deleted ${gone.length} expired push subscription(s)`);
  ctx.log.debug({ claimed: batch.length }, 'batch recorded');
}
