/**
 * The BullMQ side of the notifications comparison, one of `JOB_THREADS` processes (`node --import
 * tsx`, BullMQ's recommended way to scale: several workers in their own processes), measured like
 * the CLI: one `Worker` with this process's share of the concurrency, each job sent and its
 * notification marked sent (a `pg` pool with its defaults). Prints a `WorkerSummary` when stopped.
 */
import { Worker } from 'bullmq';
import pg from 'pg';
import { finishLine, MARK_SENT, pushSender, redisConnection, workerSettings, type PushJob } from './push.js';

const settings = workerSettings();
const pool = new pg.Pool({ connectionString: settings.databaseUrl, application_name: 'bullmq-bench' });
const send = pushSender(settings);
const done = finishLine();
const worker = new Worker<PushJob>(
  settings.queue,
  async (job) => {
    await send(job.data);
    await pool.query(MARK_SENT, [job.data.notificationId]);
  },
  { connection: redisConnection(), concurrency: settings.slots },
);
worker.on('completed', () => done.count('processed'));
worker.on('failed', (job, err) => {
  process.stderr.write(`bullmq: job ${job?.id} failed: ${err.message}\n`);
  done.count('failed');
});
await done.stopped;
await worker.close();
await pool.end();
process.stdout.write(`${JSON.stringify(done.summary)}\n`);
