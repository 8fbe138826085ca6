import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type https from 'node:https';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Queue } from 'bullmq';
import type { Knex } from 'knex';
import PgBoss from 'pg-boss';
import { createKnex } from '../../src/core/db.js';
import type { PushService } from '../../test/support/pushService.js';
import { time, timeProcess, timing, type Measurement } from '../support.js';
import { BATCH_SIZE, CONCURRENCY, redisConnection, type PushJob, type WorkerSummary } from './push.js';

/** Jobs per bulk call when enqueueing (pg-boss `insert`, BullMQ `addBulk`): the fastest way each offers. */
const ENQUEUE_CHUNK = 1_000;
const HERE = path.dirname(fileURLToPath(import.meta.url));

/**
 * What the push service delivered during one variant: messages accepted (201) and the distinct
 * subscriptions they went to, so a duplicate or a lost message shows even when the total is right.
 */
export class DeliveryCheck {
  private readonly recipients = new Set<string>();
  private acceptedBefore = 0;

  constructor(private readonly push: PushService) {
    // The service keeps its server private; listening to its answers changes none of them.
    (push as unknown as { server: https.Server }).server.on('request', (req, res) =>
      res.once('finish', () => {
        if (res.statusCode === 201) this.recipients.add(req.url ?? '');
      }),
    );
  }

  start(): void {
    this.recipients.clear();
    this.acceptedBefore = this.push.accepted;
  }

  get distinct(): number {
    return this.recipients.size;
  }

  /** Undefined when exactly `expected` messages reached as many subscriptions; else what was delivered, for the row's note. */
  problem(expected: number): string | undefined {
    const messages = this.push.accepted - this.acceptedBefore;
    if (messages === expected && this.recipients.size === expected) return undefined;
    return `⚠ NOT ${expected.toLocaleString('en')} distinct: ${messages.toLocaleString('en')} messages to ${this.recipients.size.toLocaleString('en')} subscriptions`;
  }
}

/** What both queue variants share: the seeded data, the environment the CLI got (VAPID, CA), the delivery check. */
export interface QueueComparison {
  copy: () => Promise<{ url: string; knex: Knex }>;
  env: Record<string, string>;
  deliveries: DeliveryCheck;
}

/** The version npm installed (the benchmark runs from the repository's root). */
const installedVersion = (name: string): string =>
  (JSON.parse(readFileSync(path.join('node_modules', name, 'package.json'), 'utf8')) as { version: string }).version;

/**
 * A copy of the seeded data and its pending notifications as a producer would enqueue them, one
 * job per notification and subscription. The reading connection is closed at once: only the
 * tools' own connections may count in the variant's figure.
 */
async function pendingJobs(comparison: QueueComparison): Promise<{ url: string; jobs: PushJob[] }> {
  const { url, knex } = await comparison.copy();
  const { rows } = await knex
    .raw<{ rows: PushJob[] }>(
      `SELECT n.id AS "notificationId", n.title, n.body, n.url, n.source,
            json_build_object('endpoint', s.endpoint, 'keys', json_build_object('p256dh', s.p256dh, 'auth', s.auth)) AS subscription
       FROM notifications n JOIN push_subscriptions s USING (user_id)
      WHERE n.status = 'pending' ORDER BY n.created_at, n.id`,
    )
    .finally(() => knex.destroy());
  return { url, jobs: rows };
}

async function inChunks<T>(items: T[], enqueue: (chunk: T[]) => Promise<unknown>): Promise<void> {
  for (let start = 0; start < items.length; start += ENQUEUE_CHUNK) await enqueue(items.slice(start, start + ENQUEUE_CHUNK));
}

/** Runs a worker script of this folder in its own process until it has done `expected` jobs. */
async function runWorker(script: string, comparison: QueueComparison, env: Record<string, string>, expected: number) {
  comparison.deliveries.start();
  const run = await timeProcess(process.execPath, ['--import', 'tsx', path.join(HERE, script)], {
    ...comparison.env,
    ...env,
    BENCH_EXPECTED: String(expected),
    ...(process.env.BENCH_REDIS_URL && { BENCH_REDIS_URL: process.env.BENCH_REDIS_URL }),
  });
  return { run, summary: JSON.parse(run.stdout) as WorkerSummary };
}

/** A queue variant's row: processing only in items/s; enqueueing, the worker's own time and any delivery problem in the note. */
function workerRow(
  variant: string,
  worker: Awaited<ReturnType<typeof runWorker>>,
  enqueue: { seconds: number; how: string },
  comparison: QueueComparison,
  expected: number,
  extra: Partial<Measurement> = {},
  notes: string[] = [],
): Measurement {
  const { run, summary } = worker;
  return {
    variant,
    items: comparison.deliveries.distinct,
    ...timing(run),
    peakRssMb: run.peakRssMb,
    ...extra,
    note: [
      comparison.deliveries.problem(expected),
      `enqueue ${enqueue.seconds.toFixed(2)} s (${enqueue.how}, ${ENQUEUE_CHUNK.toLocaleString('en')} a call), not counted`,
      `worker ready → done ${summary.readySeconds.toFixed(2)} s (${Math.round(summary.processed / summary.readySeconds).toLocaleString('en')}/s); the rest is start-up`,
      ...(summary.failed > 0 ? [`${summary.failed} failed`] : []),
      ...notes,
    ]
      .filter(Boolean)
      .join('; '),
  };
}

/** pg-boss on the same PostgreSQL: jobs inserted by `boss.insert`, then `pgboss-worker.ts`. */
export async function pgBossVariant(comparison: QueueComparison): Promise<Measurement> {
  const { url, jobs } = await pendingJobs(comparison);
  const queue = 'notifications-push';
  const producer = new PgBoss({ connectionString: url, application_name: 'pg-boss-bench-producer' });
  await producer.start();
  await producer.createQueue(queue);
  const enqueue = await time(() => inChunks(jobs, (chunk) => producer.insert(chunk.map((data) => ({ name: queue, data })))));
  await producer.stop({ graceful: false, wait: true });

  const worker = await runWorker('pgboss-worker.ts', comparison, { DATABASE_URL: url, BENCH_QUEUE: queue }, jobs.length);
  const knex = createKnex(url, 'planner-jobs:bench');
  try {
    const { rows } = await knex.raw<{ rows: { completed: number }[] }>(
      `SELECT count(*)::int AS completed FROM pgboss.job WHERE name = ? AND state = 'completed'`,
      [queue],
    );
    return workerRow(
      `pg-boss ${installedVersion('pg-boss')}: boss.work(), batchSize ${BATCH_SIZE}, ${CONCURRENCY} sends in flight, an UPDATE per message`,
      worker,
      { seconds: enqueue.seconds, how: 'boss.insert' },
      comparison,
      jobs.length,
      {},
      [`${rows[0].completed.toLocaleString('en')} jobs completed in pgboss.job`],
    );
  } finally {
    await knex.destroy();
  }
}

/** Whether something answers Redis's PING at `host:port` within a second. */
function redisAnswers({ host, port }: { host: string; port: number }): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    const finish = (answers: boolean) => {
      socket.destroy();
      resolve(answers);
    };
    socket.setTimeout(1000, () => finish(false));
    socket.once('error', () => finish(false));
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.once('data', (data) => finish(data.toString().startsWith('+PONG')));
  });
}

/** Connected clients and CPU seconds used so far, from INFO. */
function redisFigures(info: string) {
  const field = (name: string) => Number(new RegExp(`^${name}:([\\d.]+)`, 'm').exec(info)?.[1] ?? NaN);
  return { clients: field('connected_clients'), cpuSeconds: field('used_cpu_sys') + field('used_cpu_user') };
}

/** BullMQ on the local Redis (the notifications still marked sent in PostgreSQL): `addBulk`, then `bullmq-worker.ts`. */
export async function bullmqVariant(comparison: QueueComparison): Promise<Measurement> {
  const connection = redisConnection();
  const variant = `BullMQ ${installedVersion('bullmq')}: Worker, concurrency ${CONCURRENCY}, an UPDATE per message`;
  if (!(await redisAnswers(connection)))
    return { variant, items: 0, seconds: 0, note: `skipped: no Redis answers at ${connection.host}:${connection.port}` };
  const { url, jobs } = await pendingJobs(comparison);
  // A queue of its own: the Redis may be shared, and the benchmark removes what it added.
  const queue = new Queue<PushJob>(`planner-jobs-bench-${randomBytes(4).toString('hex')}`, { connection });
  try {
    const enqueue = await time(() => inChunks(jobs, (chunk) => queue.addBulk(chunk.map((data) => ({ name: 'push', data })))));

    const client = await queue.client;
    const before = redisFigures(await client.info());
    let peakClients = before.clients;
    const sampler = setInterval(() => {
      client
        .info()
        .then((info) => (peakClients = Math.max(peakClients, redisFigures(info).clients)))
        .catch(() => undefined);
    }, 100);
    const worker = await runWorker(
      'bullmq-worker.ts',
      comparison,
      { DATABASE_URL: url, BENCH_QUEUE: queue.name },
      jobs.length,
    ).finally(() => clearInterval(sampler));
    const after = redisFigures(await client.info());
    const redisCpu = after.cpuSeconds - before.cpuSeconds;
    return workerRow(
      variant,
      worker,
      { seconds: enqueue.seconds, how: 'queue.addBulk' },
      comparison,
      jobs.length,
      {
        redisClients: peakClients - before.clients,
        serverCpuSeconds: (worker.run.serverCpuSeconds ?? 0) + redisCpu,
      },
      [`DB server CPU: PostgreSQL ${(worker.run.serverCpuSeconds ?? 0).toFixed(2)} s + Redis ${redisCpu.toFixed(2)} s`],
    );
  } finally {
    await queue.obliterate({ force: true }).catch(() => undefined);
    await queue.close();
  }
}
