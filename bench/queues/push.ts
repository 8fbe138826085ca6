import https from 'node:https';
import webpush from 'web-push';
import { JOBS } from '../../src/core/catalog.js';
import { DEFAULT_NOTIFICATIONS_OPTIONS, pushTopic } from '../../src/jobs/notifications/policy.js';
import { VapidSigner } from '../../src/jobs/notifications/vapid.js';

/** One queued message: a notification for one subscription, as the producer enqueues it. */
export interface PushJob {
  notificationId: string;
  title: string;
  body: string | null;
  url: string | null;
  source: string;
  subscription: { endpoint: string; keys: { p256dh: string; auth: string } };
}

/** Sends in flight at once, over all of a peer's processes: planner-jobs' limit per push-service origin (every endpoint here has the same origin). */
export const CONCURRENCY = DEFAULT_NOTIFICATIONS_OPTIONS.connectionsPerOrigin;
/** Jobs fetched at once where the queue fetches in batches (pg-boss): planner-jobs' notifications batch. */
export const BATCH_SIZE = JOBS.notifications.batchSize;
/**
 * Threads planner-jobs' `notifications` run works on: its main thread (claims, HTTP, TLS, records)
 * and one encryption worker thread (src/jobs/notifications/encryptor.ts). Each peer gets as many
 * worker processes, each with its share of `CONCURRENCY`, and the encryption floor as many threads.
 */
export const JOB_THREADS = 2;

/**
 * pg-boss polling workers (`work()` calls) per process. One waits at least its polling interval
 * (0.5 s at the shortest) between fetches of `BATCH_SIZE`, which alone caps it at 400 jobs/s; four
 * keep the process's shared limiter full with batches to spare.
 */
export const PGBOSS_WORK_CALLS = 4;

/** Marks the notification sent in the app's table (the in-app inbox), as planner-jobs does. */
export const MARK_SENT = `UPDATE notifications SET status = 'sent', sent_at = now() WHERE id = $1`;

/** How a peer signs: planner-jobs' cached header per origin (the fair setup), or web-push's README way (a JWT per message). */
export type Signing = 'cached' | 'per-message';

/** What a worker prints on stdout when it is stopped. */
export interface WorkerSummary {
  processed: number;
  failed: number;
  /** Epoch milliseconds: the worker ready (connected, before its first job), and its last job done. */
  readyAt: number;
  lastDoneAt: number;
}

/** The worker's settings, from the environment the benchmark gives it. */
export function workerSettings() {
  const env = (name: string) => {
    const value = process.env[name];
    if (!value) throw new Error(`${name} is not set`);
    return value;
  };
  return {
    databaseUrl: env('DATABASE_URL'),
    queue: env('BENCH_QUEUE'),
    /** This process's share of the sends in flight. */
    slots: Number(env('BENCH_SLOTS')),
    signing: env('BENCH_SIGNING') as Signing,
    vapid: { subject: env('VAPID_SUBJECT'), publicKey: env('VAPID_PUBLIC_KEY'), privateKey: env('VAPID_PRIVATE_KEY') },
  };
}

/**
 * Sends one job with web-push's `sendNotification`, a reminder's TTL and urgency as planner-jobs
 * gives it, over kept-alive connections (at most `slots`). `cached`: the `Authorization` header
 * from planner-jobs' own VapidSigner (one JWT per origin), passed as a header so web-push signs
 * nothing; `per-message`: web-push signs a JWT per message from `vapidDetails`. The push service's
 * certificate is trusted through NODE_EXTRA_CA_CERTS, as for the CLI.
 */
export function pushSender({ vapid, slots, signing }: ReturnType<typeof workerSettings>): (job: PushJob) => Promise<void> {
  const agent = new https.Agent({ keepAlive: true, maxSockets: slots });
  const signer = new VapidSigner(vapid);
  return async (job) => {
    const payload = JSON.stringify({
      id: job.notificationId,
      title: job.title,
      body: job.body,
      url: job.url,
      source: job.source,
    });
    const authorization =
      signing === 'cached'
        ? { headers: { Authorization: signer.authorization(new URL(job.subscription.endpoint).origin) } }
        : { vapidDetails: vapid };
    await webpush.sendNotification(job.subscription, payload, {
      ...authorization,
      TTL: 3600,
      urgency: 'high',
      topic: pushTopic(job.notificationId),
      agent,
    });
  };
}

/** Where BullMQ's Redis is: BENCH_REDIS_URL, else the local default. */
export function redisConnection(url = process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379') {
  const parsed = new URL(url);
  return { host: parsed.hostname, port: Number(parsed.port || 6379) };
}

/**
 * Counts finished jobs until the benchmark stops the worker (SIGTERM, once the push service has
 * every message); `stopped` resolves then, and `summary` says what this process did.
 */
export function finishLine() {
  const summary: WorkerSummary = { processed: 0, failed: 0, readyAt: Date.now(), lastDoneAt: Date.now() };
  const stopped = new Promise<void>((resolve) => process.once('SIGTERM', () => resolve()));
  const count = (outcome: 'processed' | 'failed') => {
    summary[outcome] += 1;
    summary.lastDoneAt = Date.now();
  };
  return { stopped, summary, count };
}
