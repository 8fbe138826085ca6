import crypto from 'node:crypto';
import https from 'node:https';
import fs from 'node:fs';
import { Worker } from 'node:worker_threads';
import type { Knex } from 'knex';
import webpush from 'web-push';
import { encryptAes128gcm, type EncryptItem } from '../src/jobs/notifications/encryptor.js';
import { DEFAULT_NOTIFICATIONS_OPTIONS } from '../src/jobs/notifications/policy.js';
import { pushPayload } from '../src/jobs/notifications/payload.js';
import { PushService, type TestSubscription } from '../test/support/pushService.js';
import { bullmqVariant, DeliveryCheck, pgBossVariant } from './queues/compare.js';
import { JOB_THREADS } from './queues/push.js';
import { cliCompared, type Benchmark } from './support/benchmark.js';
import { ownCpuSeconds } from './support/cpu.js';
import { time, timeCli, timing } from './support/measure.js';

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

// Plain CommonJS run with eval, like the job's encryptor: waits for "go", encrypts its share with
// the job's own RFC 8291 code, says "done".
const FLOOR_WORKER = `
const { parentPort, workerData } = require('node:worker_threads');
const crypto = require('node:crypto');
const encrypt = ${encryptAes128gcm.toString()};
const ecdh = crypto.createECDH('prime256v1');
const items = workerData.items.map(({ p256dh, auth, payload }) => [Buffer.from(p256dh), Buffer.from(auth), Buffer.from(payload)]);
parentPort.once('message', () => {
  for (const [p256dh, auth, payload] of items) encrypt(crypto, ecdh, p256dh, auth, payload);
  parentPort.postMessage('done');
});
parentPort.postMessage('ready');
`;

/**
 * The encryption floor on `threads` worker threads, each encrypting an equal share of `items`:
 * the threads are started and handed their share before the clock starts.
 */
async function encryptOnThreads(items: EncryptItem[], threads: number) {
  const share = Math.ceil(items.length / threads);
  const workers = Array.from(
    { length: threads },
    (_, i) => new Worker(FLOOR_WORKER, { eval: true, workerData: { items: items.slice(i * share, (i + 1) * share) } }),
  );
  const next = (worker: Worker) =>
    new Promise<void>((resolve, reject) => {
      worker.once('message', () => resolve());
      worker.once('error', reject);
    });
  try {
    await Promise.all(workers.map(next));
    return await time(() =>
      Promise.all(
        workers.map((worker) => {
          const done = next(worker);
          worker.postMessage('go');
          return done;
        }),
      ),
    );
  } finally {
    await Promise.all(workers.map((worker) => worker.terminate()));
  }
}

/**
 * `rows` pending notifications to `rows` subscriptions (one per user) on the local HTTPS push
 * service: the job through the CLI; the naive way (web-push's README: one `sendNotification`
 * after another, each signing its own JWT); the floor (the encryption alone with the job's RFC 8291
 * code, no network) on one thread and on `JOB_THREADS` worker threads, and web-push's `encrypt`
 * alone as an extra row. The CLI row carries the figures issue #16 sets targets for. The push service verifies every JWT and decrypts
 * one message in 50 (its CPU is shared). Then the two queues a team would otherwise reach for,
 * set up fairly (see queues/compare.ts): pg-boss and BullMQ workers in as many processes as
 * planner-jobs has threads, the same sends in flight, planner-jobs' cached VAPID header; and, as
 * a labelled extra row, BullMQ signing a JWT per message as web-push's README does.
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
      // A budget for the whole backlog, as the peers get: with the default 50 s a loaded machine splits it over minutely runs.
      // This process is the push service: its CPU over the CLI run is the service's share of the machine.
      const serviceCpuBefore = await ownCpuSeconds();
      const cli = await timeCli(['notifications', '--now', NOW, '--json', '--max-runtime', '3600'], {
        ...env,
        DATABASE_URL: job.url,
      });
      const serviceCpuSeconds = (await ownCpuSeconds()) - serviceCpuBefore;
      const cliProblem = deliveries.problem(rows);
      const summary = JSON.parse(cli.stdout) as { counts: Record<string, number> };
      const jobConnections = push.maxOpenConnections;
      const jobTokens = push.tokens.size;
      if (push.rejected.length > 0) throw new Error(`push service rejected: ${JSON.stringify(push.rejected.slice(0, 3))}`);

      // The floor: what every message must cost at least, encrypting its payload (built beforehand).
      const sample = {
        id: '00000000-0000-0000-0000-000000000000',
        title: 'Reminder: pay rent',
        body: 'Due Sun 01 Jun 2025, 14:00 (Europe/Berlin)',
        url: '/tasks/1',
        source: 'reminder',
      };
      const items: EncryptItem[] = subscriptions.map((s) => ({
        p256dh: Buffer.from(s.p256dh, 'base64url'),
        auth: Buffer.from(s.auth, 'base64url'),
        payload: pushPayload({ ...sample, id: s.name } as never).bytes!,
      }));
      const ecdh = crypto.createECDH('prime256v1');
      const floorRun = await time(async () => {
        for (const { p256dh, auth, payload } of items) encryptAes128gcm(crypto, ecdh, p256dh, auth, payload);
      });
      const threadedFloorRun = await encryptOnThreads(items, JOB_THREADS);
      const webPushFloorRun = await time(async () => {
        for (const { p256dh, auth, payload } of items)
          webpush.encrypt(p256dh.toString('base64url'), auth.toString('base64url'), payload, 'aes128gcm');
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
      const pgBoss = await pgBossVariant(queues, 'cached');
      const bullmq = await bullmqVariant(queues, 'cached');
      const bullmqSigning = await bullmqVariant(queues, 'per-message');

      // The issue's targets (#16), from this run: CPU per message against the encryption's, speed against the best peer.
      const perMessage = (run: { cpuSeconds?: number }, count: number) => (run.cpuSeconds ?? NaN) / count;
      const cliItems = summary.counts.push_delivered ?? 0;
      const bestPeer = Math.max(...[pgBoss, bullmq].map((peer) => peer.items / peer.seconds));
      // Issue #16's first target set against what the whole machine spends per message: the job,
      // PostgreSQL and the push service (TLS, HTTP, one decryption in 50) share its cores.
      const figures = {
        'CPU µs/message': perMessage(cli, cliItems) * 1e6,
        'DB CPU µs/message': perMessage({ cpuSeconds: cli.serverCpuSeconds }, cliItems) * 1e6,
        'push service CPU µs/message': perMessage({ cpuSeconds: serviceCpuSeconds }, cliItems) * 1e6,
        'CPU × encryption': perMessage(cli, cliItems) / perMessage(floorRun, rows),
        '× best peer (messages/s)': cliItems / cli.seconds / bestPeer,
      };

      return [
        {
          variant: 'planner-jobs notifications (CLI)',
          items: cliItems,
          threads: JOB_THREADS,
          compared: cliCompared(
            'notifications',
            `${JOB_THREADS} threads (a main thread sending with undici, one encryption worker), ${DEFAULT_NOTIFICATIONS_OPTIONS.connectionsPerOrigin} connections to the push service`,
          ),
          figures,
          ...timing(cli),
          peakRssMb: cli.peakRssMb,
          note: `${cliProblem ? `${cliProblem}; ` : ''}max ${jobConnections} open connections (limit ${DEFAULT_NOTIFICATIONS_OPTIONS.connectionsPerOrigin}); ${jobTokens} VAPID JWT signed; includes process start, DB claims and records`,
        },
        {
          variant: 'floor: encryption alone, no network, 1 thread',
          items: rows,
          threads: 1,
          compared:
            "The aes128gcm encryption of every payload (RFC 8291) and nothing else, with the job's own code (the cheapest this benchmark knows), on this process's main thread.",
          ...timing(floorRun),
        },
        {
          variant: `floor: encryption alone, no network, ${JOB_THREADS} worker threads`,
          items: rows,
          threads: JOB_THREADS,
          compared: `The same encryption split evenly over ${JOB_THREADS} worker threads, as many as the job works on; its ratio is to the one-thread floor.`,
          ...timing(threadedFloorRun),
        },
        {
          variant: "extra: web-push's encrypt alone, no network, 1 thread",
          items: rows,
          threads: 1,
          compared:
            "web-push's `encrypt` (what the peers' `sendNotification` runs) on every payload, on this process's main thread; its ratio is to the one-thread floor.",
          ...timing(webPushFloorRun),
        },
        {
          variant: 'naive: webpush.sendNotification one after another',
          items: naiveRows,
          threads: 1,
          compared:
            "web-push's README way: one sendNotification after another (a JWT signed per message), each notification then marked sent (1 thread; the push service runs in the same process).",
          ...timing(naiveRun),
          note: [naiveProblem, `first ${naiveRows.toLocaleString('en')} only; CPU includes the push service (in this process)`]
            .filter(Boolean)
            .join('; '),
        },
        pgBoss,
        bullmq,
        { ...bullmqSigning, variant: `extra: ${bullmqSigning.variant}` },
      ];
    } finally {
      await push.close();
    }
  },
};
