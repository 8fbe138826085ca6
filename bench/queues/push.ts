import https from 'node:https';
import webpush from 'web-push';
import { JOBS } from '../../src/core/catalog.js';
import { DEFAULT_NOTIFICATIONS_OPTIONS, pushTopic } from '../../src/jobs/notifications/policy.js';

/** One queued message: a notification for one subscription, as the producer enqueues it. */
export interface PushJob {
  notificationId: string;
  title: string;
  body: string | null;
  url: string | null;
  source: string;
  subscription: { endpoint: string; keys: { p256dh: string; auth: string } };
}

/** Sends in flight at once: planner-jobs' limit per push-service origin (every endpoint here has the same origin). */
export const CONCURRENCY = DEFAULT_NOTIFICATIONS_OPTIONS.connectionsPerOrigin;
/** Jobs fetched at once where the queue fetches in batches (pg-boss): planner-jobs' notifications batch. */
export const BATCH_SIZE = JOBS.notifications.batchSize;

/** Marks the notification sent in the app's table (the in-app inbox), as planner-jobs does. */
export const MARK_SENT = `UPDATE notifications SET status = 'sent', sent_at = now() WHERE id = $1`;

/** What a worker prints on stdout when it is done. */
export interface WorkerSummary {
  processed: number;
  failed: number;
  /** From the worker being ready (connected, before its first job) to its last job done. */
  readySeconds: number;
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
    expected: Number(env('BENCH_EXPECTED')),
    vapidDetails: { subject: env('VAPID_SUBJECT'), publicKey: env('VAPID_PUBLIC_KEY'), privateKey: env('VAPID_PRIVATE_KEY') },
  };
}

/**
 * Sends one job the way web-push's README does (`sendNotification`, which signs a VAPID JWT per
 * message), with a reminder's TTL and urgency as planner-jobs gives it, over kept-alive connections.
 * The push service's certificate is trusted through NODE_EXTRA_CA_CERTS, as for the CLI.
 */
export function pushSender(vapidDetails: webpush.VapidKeys & { subject: string }): (job: PushJob) => Promise<void> {
  const agent = new https.Agent({ keepAlive: true, maxSockets: CONCURRENCY });
  return async (job) => {
    const payload = JSON.stringify({
      id: job.notificationId,
      title: job.title,
      body: job.body,
      url: job.url,
      source: job.source,
    });
    await webpush.sendNotification(job.subscription, payload, {
      vapidDetails,
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

/** A worker that has not finished by then gives up, and its summary shows what it did. */
const DEADLINE_MS = 10 * 60_000;

/** Counts finished jobs; `reached` resolves when `expected` are processed or failed, or at the deadline. */
export function finishLine(expected: number) {
  const started = performance.now();
  let resolve!: () => void;
  const reached = new Promise<void>((r) => (resolve = r));
  setTimeout(() => resolve(), DEADLINE_MS).unref();
  const summary: WorkerSummary = { processed: 0, failed: 0, readySeconds: 0 };
  const count = (outcome: 'processed' | 'failed') => {
    summary[outcome] += 1;
    if (summary.processed + summary.failed < expected) return;
    summary.readySeconds = (performance.now() - started) / 1000;
    resolve();
  };
  return { reached, summary, count };
}
