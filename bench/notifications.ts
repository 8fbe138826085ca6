import https from 'node:https';
import fs from 'node:fs';
import type { Knex } from 'knex';
import webpush from 'web-push';
import { DEFAULT_NOTIFICATIONS_OPTIONS } from '../src/jobs/notifications/policy.js';
import { pushPayload } from '../src/jobs/notifications/payload.js';
import { PushService, type TestSubscription } from '../test/support/pushService.js';
import { bullmqVariant, DeliveryCheck, pgBossVariant } from './queues/compare.js';
import { time, timeCli, timing, type Benchmark } from './support.js';

const NOW = '2025-06-01T12:00:00Z';
const NAIVE_SAMPLE = 2_000;

/** One user per subscription, each with one pending reminder notification due at `now`. */
export async function seedPendingPushes(
  knex: Knex,
  subscriptions: readonly TestSubscription[],
  now: string | Date,
): Promise<void> {
  await knex.raw(
    `WITH input AS (SELECT * FROM json_to_recordset(:subs::json) AS s (name text, endpoint text, p256dh text, auth text)),
          users AS (INSERT INTO users (email) SELECT 'push-' || name || '@example.test' FROM input RETURNING id, email)
     INSERT INTO push_subscriptions (user_id, endpoint, p256dh, auth)
     SELECT u.id, i.endpoint, i.p256dh, i.auth FROM input i JOIN users u ON u.email = 'push-' || i.name || '@example.test'`,
    { subs: JSON.stringify(subscriptions) },
  );
  await knex.raw(
    `INSERT INTO notifications (user_id, title, body, url, source, run_after, created_at)
     SELECT user_id, 'Reminder: pay rent', 'Due Sun 01 Jun 2025, 14:00 (Europe/Berlin)', '/tasks/' || id, 'reminder', :now, :now
       FROM push_subscriptions`,
    { now },
  );
}

/**
 * `rows` pending notifications to `rows` subscriptions (one per user) on the local HTTPS push
 * service: the job through the CLI; the naive way (web-push's README: one `sendNotification`
 * after another, each signing its own JWT); the floor (the encryption alone, no network).
 * The push service verifies every JWT and decrypts one message in 50 (its CPU is shared).
 * Then the two queues a team would otherwise reach for, each sending the same messages to the same
 * service with the same concurrency: a pg-boss worker and a BullMQ worker (see queues/compare.ts).
 */
export const notificationsBench: Benchmark = {
  name: 'notifications',
  // The queue comparison is 20,000 sends, whatever --rows the other jobs get.
  maxRowsInAll: 20_000,
  describe: ({ rows }) =>
    `notifications: ${rows.toLocaleString('en')} pending notifications to as many subscriptions (Web Push, local HTTPS service)`,
  async run(server, { rows }) {
    const vapid = { ...webpush.generateVAPIDKeys(), subject: 'mailto:bench@example.test' };
    const push = await PushService.start(vapid.publicKey);
    push.decryptEvery = 50;
    const subscriptions = Array.from({ length: rows }, (_, i) => push.subscribe(`s${i}`));
    const deliveries = new DeliveryCheck(push);
    try {
      const copy = await server.seeded((knex) => seedPendingPushes(knex, subscriptions, NOW));

      const job = await copy();
      await job.knex.destroy();
      const env = {
        VAPID_PUBLIC_KEY: vapid.publicKey,
        VAPID_PRIVATE_KEY: vapid.privateKey,
        VAPID_SUBJECT: vapid.subject,
        ...push.clientEnv,
      };
      deliveries.start();
      const cli = await timeCli(['notifications', '--now', NOW, '--json'], { ...env, DATABASE_URL: job.url });
      const cliProblem = deliveries.problem(rows);
      const summary = JSON.parse(cli.stdout) as { counts: Record<string, number> };
      const jobConnections = push.maxOpenConnections;
      const jobTokens = push.tokens.size;
      if (push.rejected.length > 0) throw new Error(`push service rejected: ${JSON.stringify(push.rejected.slice(0, 3))}`);

      // The floor: what every message must cost at least, encrypting its payload.
      const sample = {
        id: '00000000-0000-0000-0000-000000000000',
        title: 'Reminder: pay rent',
        body: 'Due Sun 01 Jun 2025, 14:00 (Europe/Berlin)',
        url: '/tasks/1',
        source: 'reminder',
      };
      const floorRun = await time(async () => {
        for (const s of subscriptions)
          webpush.encrypt(s.p256dh, s.auth, pushPayload({ ...sample, id: s.name } as never).bytes!, 'aes128gcm');
      });

      // Naive: web-push's README, one message after another. The agent only adds the test CA
      // (keep-alive like Node's global agent).
      const naive = await copy();
      const agent = new https.Agent({ keepAlive: true, ca: fs.readFileSync(push.caFile, 'utf8') });
      const naiveRows = Math.min(rows, NAIVE_SAMPLE);
      deliveries.start();
      const naiveRun = await time(async () => {
        const pending = await naive.knex.raw<{
          rows: { id: string; title: string; body: string; url: string; endpoint: string; p256dh: string; auth: string }[];
        }>(
          `SELECT n.id, n.title, n.body, n.url, s.endpoint, s.p256dh, s.auth
             FROM notifications n JOIN push_subscriptions s USING (user_id)
            WHERE n.status = 'pending' LIMIT :limit`,
          { limit: naiveRows },
        );
        for (const n of pending.rows) {
          await webpush.sendNotification(
            { endpoint: n.endpoint, keys: { p256dh: n.p256dh, auth: n.auth } },
            JSON.stringify({ title: n.title, body: n.body, url: n.url }),
            { vapidDetails: vapid, TTL: 3600, agent },
          );
          await naive.knex('notifications').where({ id: n.id }).update({ status: 'sent', sent_at: NOW });
        }
      });
      agent.destroy();
      await naive.knex.destroy();
      const naiveProblem = deliveries.problem(naiveRows);

      const queues = { copy, env, deliveries };
      const pgBoss = await pgBossVariant(queues);
      const bullmq = await bullmqVariant(queues);

      return [
        {
          variant: 'planner-jobs notifications (CLI)',
          items: summary.counts.push_delivered ?? 0,
          ...timing(cli),
          peakRssMb: cli.peakRssMb,
          note: `${cliProblem ? `${cliProblem}; ` : ''}max ${jobConnections} open connections (limit ${DEFAULT_NOTIFICATIONS_OPTIONS.connectionsPerOrigin}); ${jobTokens} VAPID JWT signed; includes process start, DB claims and records`,
        },
        { variant: 'floor: encryption alone, no network', items: rows, ...timing(floorRun) },
        {
          variant: 'naive: webpush.sendNotification one after another',
          items: naiveRows,
          ...timing(naiveRun),
          note: [naiveProblem, `first ${naiveRows.toLocaleString('en')} only; CPU includes the push service (in this process)`]
            .filter(Boolean)
            .join('; '),
        },
        pgBoss,
        bullmq,
      ];
    } finally {
      await push.close();
    }
  },
};
