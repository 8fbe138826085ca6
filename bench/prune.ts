import { cliCompared, type Benchmark } from './support/benchmark.js';
import { time, timeCli, timing } from './support/measure.js';
import type { BenchServer } from './support/server.js';

const NOW = '2025-06-01T12:00:00Z';
const NAIVE_SAMPLE = 4_000;

/** `rows` items past the 90-day retention: half job_runs, half sent notifications (one delivery each). */
export const pruneBench: Benchmark = {
  name: 'prune',
  describe: ({ rows }) => `prune: ${rows.toLocaleString('en')} expired rows (half job_runs, half sent notifications)`,
  async run(server: BenchServer, { rows }) {
    const half = Math.floor(rows / 2);
    const copy = await server.seeded(async (knex) => {
      await knex.raw(
        `INSERT INTO job_runs (job, status, started_at, finished_at, details)
         SELECT 'overdue', 'succeeded', :now::timestamptz - interval '100 days' - i * interval '1 second',
                :now::timestamptz - interval '100 days' - i * interval '1 second' + interval '2 seconds', '{"counts":{}}'
           FROM generate_series(1, :half) i`,
        { now: NOW, half },
      );
      await knex.raw(`INSERT INTO users (email) SELECT 'bench-' || i || '@example.test' FROM generate_series(1, 1000) i`);
      await knex.raw(
        `INSERT INTO notifications (user_id, title, status, sent_at)
         SELECT u.id, 'old news', 'sent', :now::timestamptz - interval '100 days' - i * interval '1 second'
           FROM generate_series(1, :half) i
           JOIN (SELECT id, row_number() OVER () - 1 AS n FROM users) u ON u.n = i % 1000`,
        { now: NOW, half },
      );
      await knex.raw(
        `INSERT INTO notification_deliveries (notification_id, channel, outcome) SELECT id, 'web', 'delivered' FROM notifications`,
      );
    });

    const job = await copy();
    await job.knex.destroy();
    const cli = await timeCli(['prune', '--now', NOW, '--json'], { DATABASE_URL: job.url });
    const processed = JSON.parse(cli.stdout).processed as number;

    const floor = await copy();
    const floorRun = await time(async () => {
      await floor.knex.raw(`DELETE FROM job_runs WHERE started_at < :now::timestamptz - interval '90 days'`, { now: NOW });
      await floor.knex.raw(
        `DELETE FROM notifications WHERE status = 'sent' AND sent_at < :now::timestamptz - interval '90 days'`,
        {
          now: NOW,
        },
      );
    });
    await floor.knex.destroy();

    const naive = await copy();
    const naiveRows = Math.min(half, NAIVE_SAMPLE / 2);
    const naiveRun = await time(async () => {
      const runIds = await naive.knex('job_runs').where('started_at', '<', '2025-03-03T12:00:00Z').limit(naiveRows).pluck('id');
      for (const id of runIds) await naive.knex('job_runs').where({ id }).del();
      const sentIds = await naive.knex('notifications').where({ status: 'sent' }).limit(naiveRows).pluck('id');
      for (const id of sentIds) await naive.knex('notifications').where({ id }).del();
    });
    await naive.knex.destroy();

    return [
      {
        variant: 'planner-jobs prune (CLI)',
        items: processed,
        threads: 1,
        compared: cliCompared('prune'),
        ...timing(cli),
        peakRssMb: cli.peakRssMb,
      },
      {
        variant: 'floor: one DELETE per table',
        items: half * 2,
        threads: 1,
        compared: 'The same deletions as one DELETE on job_runs and one on notifications, from this process (1 thread).',
        ...timing(floorRun),
      },
      {
        variant: 'naive: one DELETE per row',
        items: naiveRows * 2,
        threads: 1,
        compared: 'The ids read once, then one DELETE per row, one after another (1 thread).',
        ...timing(naiveRun),
        note: `first ${(naiveRows * 2).toLocaleString('en')} rows only`,
      },
    ];
  },
};
