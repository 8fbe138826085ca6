/**
 * The pg-boss side of the notifications comparison, run as its own process (`node --import tsx`)
 * so its CPU and memory are measured like the CLI's: one `boss.work()` fetching planner-jobs'
 * batch size, sending with planner-jobs' concurrency, marking each notification sent; pg-boss
 * completes the batch when the handler resolves. Prints a `WorkerSummary` once every job is done.
 */
import pLimit from 'p-limit';
import PgBoss from 'pg-boss';
import { BATCH_SIZE, CONCURRENCY, finishLine, MARK_SENT, pushSender, workerSettings, type PushJob } from './push.js';

const settings = workerSettings();
const boss = new PgBoss({ connectionString: settings.databaseUrl, application_name: 'pg-boss-bench' });
boss.on('error', (err) => process.stderr.write(`pg-boss: ${err.message}\n`));
await boss.start();

const send = pushSender(settings.vapidDetails);
const db = boss.getDb();
const limit = pLimit(CONCURRENCY);
const done = finishLine(settings.expected);
// pg-boss's shortest polling interval: an idle worker looks again after half a second.
await boss.work<PushJob>(settings.queue, { batchSize: BATCH_SIZE, pollingIntervalSeconds: 0.5 }, (jobs) =>
  Promise.all(
    jobs.map((job) =>
      limit(async () => {
        try {
          await send(job.data);
          await db.executeSql(MARK_SENT, [job.data.notificationId]);
        } catch (err) {
          // pg-boss fails (and later retries) the whole batch; the benchmark counts the message as failed.
          done.count('failed');
          throw err;
        }
        done.count('processed');
      }),
    ),
  ),
);
await done.reached;
await boss.stop({ graceful: true, wait: true });
process.stdout.write(`${JSON.stringify(done.summary)}\n`);
