import webpush from 'web-push';
import { seedPendingPushes } from '../../bench/notifications.js';
import { DEFAULT_NOTIFICATIONS_OPTIONS } from '../../src/jobs/notifications/policy.js';
import { PushService, type Answer } from '../../test/support/pushService.js';
import type { ChaosJob } from '../types.js';
import { countsOf, NOW, tally } from './support.js';

/** A third of the endpoints misbehave before they accept: 429 (Retry-After 1 s) twice, 500 twice, or one hang. */
const FAULTS: Answer[][] = [
  [
    { status: 429, headers: { 'Retry-After': '1' } },
    { status: 429, headers: { 'Retry-After': '1' } },
  ],
  [{ status: 500 }, { status: 500 }],
  ['hang'],
];

/**
 * `items` pending notifications, one per user, each user with one subscription on a local Web
 * Push service that decrypts every message. Done: the row `sent` and the push service accepted
 * (2xx) its message; a duplicate is a second accepted message for the same notification id
 * (messages answered 429/500 or left hanging were not delivered, so their resend is not one).
 * Half-written: recorded `sent` without an accepted message.
 */
export const notificationsChaos: ChaosJob = {
  name: 'notifications',
  items: { full: 10_000, quick: 300 },
  batchSize: 50,
  now: NOW,
  // Past the 5-minute lease (a killed run's claims come back) and the first backoffs.
  stepMs: 10 * 60_000,
  service: 'push',
  // At-least-once: a run killed between a send and its record resends after the lease. A
  // delivery keeps its concurrency slot until its outcome is committed (group commit every few
  // milliseconds), so at most --concurrency messages are sent but unrecorded at any moment.
  inFlightPerFault: DEFAULT_NOTIFICATIONS_OPTIONS.concurrency,
  // Hanging endpoints hold a connection for the 10 s request deadline each: fewer items.
  faultItems: { full: 300, quick: 45 },
  async world(items, { serviceFaults }) {
    const vapid = { ...webpush.generateVAPIDKeys(), subject: 'mailto:chaos@example.test' };
    const push = await PushService.start(vapid.publicKey);
    const subscriptions = Array.from({ length: items }, (_, i) => push.subscribe(`s${i}`));
    if (serviceFaults) subscriptions.forEach((s, i) => i % 3 === 0 && push.script(s, ...FAULTS[(i / 3) % 3]));
    return {
      env: {
        VAPID_PUBLIC_KEY: vapid.publicKey,
        VAPID_PRIVATE_KEY: vapid.privateKey,
        VAPID_SUBJECT: vapid.subject,
        ...push.clientEnv,
      },
      seed: (knex) => seedPendingPushes(knex, subscriptions, NOW),
      async check(knex) {
        const accepted = new Map<string, number>();
        for (const message of push.received)
          if (message.answered === 201 || message.answered === 202)
            accepted.set(message.payload.id, (accepted.get(message.payload.id) ?? 0) + 1);
        const c = await countsOf(
          knex,
          `WITH accepted AS (SELECT key AS id, value::int AS n FROM json_each_text(:accepted::json)),
                per_row AS (SELECT n.status, coalesce(a.n, 0) AS messages FROM notifications n LEFT JOIN accepted a ON a.id = n.id::text)
           SELECT count(*) AS expected,
                  count(*) FILTER (WHERE status = 'sent' AND messages >= 1) AS done,
                  coalesce(sum(messages - 1) FILTER (WHERE messages > 1), 0) AS duplicates,
                  count(*) FILTER (WHERE status = 'sent' AND messages = 0) AS half,
                  count(*) FILTER (WHERE status <> 'sent' AND messages >= 1) AS unrecorded,
                  count(*) FILTER (WHERE status = 'failed') AS failed
             FROM per_row`,
          { accepted: JSON.stringify(Object.fromEntries(accepted)) },
        );
        const { timeouts } = await countsOf<'timeouts'>(
          knex,
          `SELECT count(*) AS timeouts FROM notification_deliveries WHERE channel = 'web' AND error LIKE '%request timeout%'`,
        );
        const rejected = push.rejected.length;
        return tally({
          expected: c.expected,
          done: c.done,
          duplicates: c.duplicates,
          halfWritten: c.half,
          wrong: rejected,
          ambiguous: timeouts,
          note: [
            c.failed && `${c.failed} failed`,
            c.unrecorded && `${c.unrecorded} delivered but not yet recorded sent`,
            timeouts && `${timeouts} push requests timed out`,
            rejected && `${rejected} requests rejected by the push service`,
          ]
            .filter(Boolean)
            .join('; '),
        });
      },
      async reset() {
        push.received.length = 0;
        push.rejected.length = 0;
      },
      close: () => push.close(),
    };
  },
};
