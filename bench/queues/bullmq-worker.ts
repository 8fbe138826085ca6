/**
 * The BullMQ side of the notifications comparison, run as its own process (`node --import tsx`)
 * so its CPU and memory are measured like the CLI's: one `Worker` with planner-jobs' concurrency,
 * each job sent and its notification marked sent (a `pg` pool with its defaults). Prints a
 * `WorkerSummary` once every job is done.
 */
import { Worker } from 'bullmq';
import pg from 'pg';
import { CONCURRENCY, finishLine, MARK_SENT, pushSender, redisConnection, workerSettings, type PushJob } from './push.js';

const settings = workerSettings();
const pool = new pg.Pool({ connectionString: settings.databaseUrl, application_name: 'bullmq-bench' });
const send = pushSender(settings.vapidDetails);
const done = finishLine(settings.expected);
const worker = new Worker<PushJob>(
  settings.queue,
  async (job) => {
    await send(job.data);
    await pool.query(MARK_SENT, [job.data.notificationId]);
  },
  { connection: redisConnection(), concurrency: CONCURRENCY },
);
worker.on('completed', () => done.count('processed'));
worker.on('failed', (job, err) => {
  process.stderr.write(`bullmq: job ${job?.id} failed: ${err.message}\n`);
  done.count('failed');
});
await done.reached;
await worker.close();
await pool.end();
process.stdout.write(`${JSON.stringify(done.summary)}\n`);
