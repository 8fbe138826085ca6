/**
 * The pg-boss side of the notifications comparison, one of `JOB_THREADS` processes (`node --import
 * tsx`), measured like the CLI. As pg-boss's maintainer advises for concurrency since v10 (one
 * `work()` per polling worker, concurrency handled in the handler: timgit/pg-boss#483, #659),
 * `PGBOSS_WORK_CALLS` `work()` calls, each fetching planner-jobs' batch size, share one limiter of this
 * process's share of the sends in flight; each message is sent and its notification marked sent,
 * and pg-boss completes the batch when the handler resolves. Prints a `WorkerSummary` when stopped.
 */
import pLimit from 'p-limit';
import PgBoss from 'pg-boss';
import { BATCH_SIZE, finishLine, PGBOSS_WORK_CALLS, MARK_SENT, pushSender, workerSettings, type PushJob } from './push.js';

const settings = workerSettings();
const boss = new PgBoss({ connectionString: settings.databaseUrl, application_name: 'pg-boss-bench' });
boss.on('error', (err) => process.stderr.write(`pg-boss: ${err.message}\n`));
await boss.start();

const send = pushSender(settings);
const db = boss.getDb();
const limit = pLimit(settings.slots);
const done = finishLine();
const handler = (jobs: PgBoss.Job<PushJob>[]) =>
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
  );
for (let i = 0; i < PGBOSS_WORK_CALLS; i++)
  await boss.work<PushJob>(settings.queue, { batchSize: BATCH_SIZE, pollingIntervalSeconds: 0.5 }, handler);
await done.stopped;
await boss.stop({ graceful: true, wait: true });
process.stdout.write(`${JSON.stringify(done.summary)}\n`);
