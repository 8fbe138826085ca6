import type { Knex } from 'knex';
import { compareJob, type Benchmark } from './support/benchmark.js';

const NOW = '2025-06-01T12:00:00Z';
const NAIVE_SAMPLE = 20_000;

/** `rows` open tasks, all past due, over 1,000 users (the worst case: every row changes). */
export async function seedOverdue(knex: Knex, rows: number): Promise<void> {
  await knex.raw(`INSERT INTO users (email) SELECT 'bench-' || i || '@example.test' FROM generate_series(1, 1000) i`);
  await knex.raw(
    `INSERT INTO tasks (user_id, title, due_date)
       SELECT u.ids[1 + i % 1000], 'Task ' || i, :now::timestamptz - (i % 100000) * interval '1 minute' - interval '1 second'
         FROM generate_series(1, :rows) i, (SELECT array_agg(id) AS ids FROM users) u`,
    { rows, now: NOW },
  );
}

/** The job, the floor and the naive way on the same seed. */
export const overdueBench: Benchmark = {
  name: 'overdue',
  describe: ({ rows }) => `overdue: ${rows.toLocaleString('en')} open tasks past due`,
  async run(server, { rows }) {
    const copy = await server.seeded((knex) => seedOverdue(knex, rows));
    const naiveRows = Math.min(rows, NAIVE_SAMPLE);
    return compareJob(copy, {
      cli: ['overdue', '--now', NOW, '--json'],
      floor: {
        variant: 'floor: one UPDATE statement',
        items: rows,
        compared: 'The same change as one UPDATE of every past-due open task, from this process over one connection (1 thread).',
        run: (knex) =>
          knex.raw(
            `UPDATE tasks SET status = 'overdue', overdue_at = :now WHERE status = 'open' AND NOT completed AND due_date < :now`,
            {
              now: NOW,
            },
          ),
      },
      naive: {
        variant: 'naive: one UPDATE per row',
        items: naiveRows,
        compared: 'The ids read once, then one UPDATE per task, one after another from this process (1 thread).',
        async run(knex) {
          const ids = await knex('tasks')
            .where('due_date', '<', NOW)
            .andWhere({ status: 'open', completed: false })
            .limit(naiveRows)
            .pluck('id');
          for (const id of ids) await knex('tasks').where({ id }).update({ status: 'overdue', overdue_at: NOW });
        },
      },
    });
  },
};
