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
import type { Measurement } from '../support/benchmark.js';
import { time, timeProcesses, timing } from '../support/measure.js';
import {
  BATCH_SIZE,
  CONCURRENCY,
  JOB_THREADS,
  PGBOSS_WORK_CALLS,
  redisConnection,
  type PushJob,
  type Signing,
  type WorkerSummary,
} from './push.js';

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
  try {
    const { rows } = await knex.raw<{ rows: PushJob[] }>(
      `SELECT n.id AS "notificationId", n.title, n.body, n.url, n.source,
            json_build_object('endpoint', s.endpoint, 'keys', json_build_object('p256dh', s.p256dh, 'auth', s.auth)) AS subscription
       FROM notifications n JOIN push_subscriptions s USING (user_id)
      WHERE n.status = 'pending' ORDER BY n.created_at, n.id`,
    );
    return { url, jobs: rows };
  } finally {
    await knex.destroy();
  }
}

async function inChunks<T>(items: T[], enqueue: (chunk: T[]) => Promise<unknown>): Promise<void> {
  for (let start = 0; start < items.length; start += ENQUEUE_CHUNK) await enqueue(items.slice(start, start + ENQUEUE_CHUNK));
}

/** A worker that has not delivered everything by then is stopped, and its row shows what it did. */
const DEADLINE_MS = 10 * 60_000;

/** Resolves once the push service has accepted `expected` distinct messages, or at the deadline. */
function allDelivered(deliveries: DeliveryCheck, expected: number): Promise<void> {
  return new Promise((resolve) => {
    const started = Date.now();
    const timer = setInterval(() => {
      if (deliveries.distinct < expected && Date.now() - started < DEADLINE_MS) return;
      clearInterval(timer);
      resolve();
    }, 50);
    timer.unref(); // a worker that failed must not keep the benchmark waiting for the deadline
  });
}

/** How a peer's workers are set up, for its row's name. */
const peerSetup = (signing: Signing) =>
  `${JOB_THREADS} processes, ${CONCURRENCY} sends in flight in all, ${signing === 'cached' ? 'cached VAPID header' : 'a VAPID JWT signed per message'}`;

/**
 * Runs `JOB_THREADS` processes of a worker script of this folder side by side, each with its share
 * of `CONCURRENCY`, and stops them (SIGTERM) once every message is delivered; what they did together.
 */
async function runWorkers(
  script: string,
  comparison: QueueComparison,
  env: Record<string, string>,
  expected: number,
  signing: Signing,
) {
  comparison.deliveries.start();
  const command = {
    command: process.execPath,
    args: ['--import', 'tsx', path.join(HERE, script)],
    env: {
      ...comparison.env,
      ...env,
      BENCH_SLOTS: String(CONCURRENCY / JOB_THREADS),
      BENCH_SIGNING: signing,
      ...(process.env.BENCH_REDIS_URL && { BENCH_REDIS_URL: process.env.BENCH_REDIS_URL }),
    },
  };
  const runs = await timeProcesses(
    Array.from({ length: JOB_THREADS }, () => command),
    allDelivered(comparison.deliveries, expected),
  );
  const summaries = runs.map((run) => JSON.parse(run.stdout) as WorkerSummary);
  const summary = {
    processed: summaries.reduce((sum, s) => sum + s.processed, 0),
    failed: summaries.reduce((sum, s) => sum + s.failed, 0),
    readySeconds: (Math.max(...summaries.map((s) => s.lastDoneAt)) - Math.min(...summaries.map((s) => s.readyAt))) / 1000,
  };
  return { run: runs[0], summary };
}

/** A queue variant's row: processing only in items/s; enqueueing, the workers' own time and any delivery problem in the note. */
function workerRow(
  row: Pick<Measurement, 'variant' | 'compared'>,
  worker: Awaited<ReturnType<typeof runWorkers>>,
  enqueue: { seconds: number; how: string },
  comparison: QueueComparison,
  expected: number,
  extra: Partial<Measurement> = {},
  notes: string[] = [],
): Measurement {
  const { run, summary } = worker;
  return {
    ...row,
    items: comparison.deliveries.distinct,
    threads: JOB_THREADS,
    ...timing(run),
    peakRssMb: run.peakRssMb,
    ...extra,
    note: [
      comparison.deliveries.problem(expected),
      `enqueue ${enqueue.seconds.toFixed(2)} s (${enqueue.how}, ${ENQUEUE_CHUNK.toLocaleString('en')} a call), not counted`,
      `first worker ready → last job done ${summary.readySeconds.toFixed(2)} s (${Math.round(summary.processed / summary.readySeconds).toLocaleString('en')}/s); the rest is start-up and shutdown`,
      ...(summary.failed > 0 ? [`${summary.failed} failed`] : []),
      ...notes,
    ]
      .filter(Boolean)
      .join('; '),
  };
}

/** pg-boss on the same PostgreSQL: jobs inserted by `boss.insert`, then `pgboss-worker.ts`. */
export async function pgBossVariant(comparison: QueueComparison, signing: Signing): Promise<Measurement> {
  const { url, jobs } = await pendingJobs(comparison);
  const queue = 'notifications-push';
  const producer = new PgBoss({ connectionString: url, application_name: 'pg-boss-bench-producer' });
  await producer.start();
  await producer.createQueue(queue);
  const enqueue = await time(() => inChunks(jobs, (chunk) => producer.insert(chunk.map((data) => ({ name: queue, data })))));
  await producer.stop({ graceful: false, wait: true });

  const worker = await runWorkers(
    'pgboss-worker.ts',
    comparison,
    { DATABASE_URL: url, BENCH_QUEUE: queue },
    jobs.length,
    signing,
  );
  const knex = createKnex(url, 'planner-jobs:bench');
  try {
    const { rows } = await knex.raw<{ rows: { completed: number }[] }>(
      `SELECT count(*)::int AS completed FROM pgboss.job WHERE name = ? AND state = 'completed'`,
      [queue],
    );
    const perProcess = CONCURRENCY / JOB_THREADS;
    return workerRow(
      {
        variant: `pg-boss ${installedVersion('pg-boss')}: ${PGBOSS_WORK_CALLS} work() × batchSize ${BATCH_SIZE} per process sharing a ${perProcess}-slot limiter, ${peerSetup(signing)}, an UPDATE per message`,
        compared: `The same sends through pg-boss on the same PostgreSQL, as its maintainer advises: ${JOB_THREADS} worker processes (1 thread each), each with ${PGBOSS_WORK_CALLS} work() calls sharing one ${perProcess}-slot limiter (${CONCURRENCY} in flight in all), ${signing === 'cached' ? "planner-jobs' cached VAPID header" : "a VAPID JWT signed per message (web-push's README way)"}, each notification marked sent.`,
      },
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
export async function bullmqVariant(comparison: QueueComparison, signing: Signing): Promise<Measurement> {
  const connection = redisConnection();
  const perProcess = CONCURRENCY / JOB_THREADS;
  const row = {
    variant: `BullMQ ${installedVersion('bullmq')}: Worker, concurrency ${perProcess} per process, ${peerSetup(signing)}, an UPDATE per message`,
    compared: `The same sends through BullMQ on the local Redis, as its docs recommend: ${JOB_THREADS} worker processes (1 thread each) with concurrency ${perProcess} each (${CONCURRENCY} in flight in all), ${signing === 'cached' ? "planner-jobs' cached VAPID header" : "a VAPID JWT signed per message (web-push's README way)"}, each notification marked sent in PostgreSQL.`,
  };
  if (!(await redisAnswers(connection)))
    return {
      ...row,
      items: 0,
      seconds: 0,
      threads: JOB_THREADS,
      note: `skipped: no Redis answers at ${connection.host}:${connection.port}`,
    };
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
    const worker = await runWorkers(
      'bullmq-worker.ts',
      comparison,
      { DATABASE_URL: url, BENCH_QUEUE: queue.name },
      jobs.length,
      signing,
    ).finally(() => clearInterval(sampler));
    const after = redisFigures(await client.info());
    const redisCpu = after.cpuSeconds - before.cpuSeconds;
    return workerRow(
      row,
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
