import type { Knex } from 'knex';
import { DateTime } from 'luxon';
import { cliCompared, type Benchmark } from './support/benchmark.js';
import { time, timeCli, timing } from './support/measure.js';
import type { BenchServer } from './support/server.js';

const NOW = '2025-06-01T12:00:00Z';
const USERS = 10_000;
const NAIVE_SAMPLE = 2_000;
const ELIGIBLE = 'is_recurring AND completed AND due_date IS NOT NULL AND last_processed_at IS NULL';

/**
 * `rows` tasks, one in five eligible (completed, recurring, not processed; all four kinds,
 * intervals 1 to 3, some completed late), the rest processed, open or one-off; owners spread
 * round-robin over every region zone PostgreSQL knows.
 */
export async function seedRecurring(knex: Knex, rows: number): Promise<void> {
  await knex.raw(
    `INSERT INTO users (email, timezone)
       SELECT 'bench-' || i || '@example.test', zones.names[1 + i % cardinality(zones.names)]
         FROM generate_series(1, :users) i,
              (SELECT array_agg(name ORDER BY name) AS names FROM pg_timezone_names
                WHERE name ~ '^(Africa|America|Antarctica|Asia|Atlantic|Australia|Europe|Indian|Pacific)/') zones`,
    { users: USERS },
  );
  await knex.raw(
    `INSERT INTO tasks (user_id, title, description, priority, tags, due_date, completed, completed_at,
                          is_recurring, recurrence_type, recurrence_interval, last_processed_at)
       SELECT owners.ids[1 + i % :users], 'Task ' || i, CASE WHEN i % 3 = 0 THEN 'Details of task ' || i END,
              (ARRAY['low', 'medium', 'high', 'urgent'])[1 + i % 4], ARRAY['bench', 'kind-' || i % 7],
              due, i % 5 IN (0, 1, 4), CASE WHEN i % 5 IN (0, 1, 4) THEN due + (i % 50) * interval '1 hour' END,
              i % 5 IN (0, 1, 2), CASE WHEN i % 5 IN (0, 1, 2) THEN (ARRAY['daily', 'weekly', 'monthly', 'yearly'])[1 + (i / 5) % 4] END,
              1 + i % 3, CASE WHEN i % 5 = 1 THEN :now::timestamptz END
         FROM generate_series(1, :rows) i,
              LATERAL (SELECT :now::timestamptz - (i % 20000) * interval '1 minute' AS due) d,
              (SELECT array_agg(id) AS ids FROM users) owners`,
    { rows, users: USERS, now: NOW },
  );
}

/** The job, the floor (no calendar rules) and the naive way on the same seed. */
export const recurringBench: Benchmark = {
  name: 'recurring',
  describe: ({ rows }) =>
    `recurring: ${rows.toLocaleString('en')} tasks, ${Math.floor(rows / 5).toLocaleString('en')} eligible, owners over every region zone`,
  async run(server: BenchServer, { rows }) {
    const copy = await server.seeded((knex) => seedRecurring(knex, rows));

    const job = await copy();
    await job.knex.destroy();
    const cli = await timeCli(['recurring', '--now', NOW, '--json'], { DATABASE_URL: job.url });
    const processed = JSON.parse(cli.stdout).processed as number;

    // The same copy, set-based, ignoring every calendar rule: due + 1 day, no zones, no reminders.
    const floor = await copy();
    const floorRun = await time(() =>
      floor.knex.transaction(async (trx) => {
        await trx.raw(
          `INSERT INTO tasks (user_id, title, description, priority, tags, due_date, is_recurring, recurrence_type,
                              recurrence_interval, recurrence_parent_id, created_at, updated_at)
           SELECT user_id, title, description, priority, tags, due_date + interval '1 day', true, recurrence_type,
                  recurrence_interval, id, :now, :now
             FROM tasks WHERE ${ELIGIBLE}`,
          { now: NOW },
        );
        const updated = await trx.raw<{ rowCount: number }>(`UPDATE tasks SET last_processed_at = :now WHERE ${ELIGIBLE}`, {
          now: NOW,
        });
        return updated.rowCount;
      }),
    );
    const floorItems = floorRun.value;
    await floor.knex.destroy();

    // Row by row: read the task and its owner's zone, compute in JS, insert, update.
    const naive = await copy();
    const naiveRun = await time(async () => {
      const ids = await naive.knex('tasks').whereRaw(ELIGIBLE).limit(NAIVE_SAMPLE).pluck('id');
      for (const id of ids) {
        const task = await naive
          .knex('tasks')
          .join('users', 'users.id', 'tasks.user_id')
          .where('tasks.id', id)
          .first('tasks.*', 'users.timezone');
        const unit = { daily: 'days', weekly: 'weeks', monthly: 'months', yearly: 'years' }[task.recurrence_type as string]!;
        const after = new Date(Math.max(task.due_date.getTime(), task.completed_at.getTime()));
        let next = DateTime.fromJSDate(task.due_date, { zone: task.timezone });
        while (next.toJSDate() <= after) next = next.plus({ [unit]: task.recurrence_interval });
        await naive.knex('tasks').insert({
          user_id: task.user_id,
          title: task.title,
          description: task.description,
          priority: task.priority,
          tags: task.tags,
          due_date: next.toJSDate(),
          is_recurring: true,
          recurrence_type: task.recurrence_type,
          recurrence_interval: task.recurrence_interval,
          recurrence_parent_id: id,
        });
        await naive.knex('tasks').where({ id }).update({ last_processed_at: NOW });
      }
      return ids.length;
    });
    await naive.knex.destroy();

    return [
      {
        variant: 'planner-jobs recurring (CLI)',
        items: processed,
        threads: 1,
        compared: cliCompared('recurring'),
        ...timing(cli),
        peakRssMb: cli.peakRssMb,
      },
      {
        variant: 'floor: one INSERT ... SELECT + one UPDATE',
        items: floorItems,
        threads: 1,
        compared:
          'The next instances as one INSERT … SELECT (due + 1 day: no calendar rules, no zones) and one UPDATE, in one transaction from this process (1 thread).',
        ...timing(floorRun),
      },
      {
        variant: 'naive: read, compute in JS, insert, update per task',
        items: naiveRun.value,
        threads: 1,
        compared: 'Per task, read it with its zone, step the date in JS (Luxon), insert, update, one after another (1 thread).',
        ...timing(naiveRun),
        note: `first ${naiveRun.value.toLocaleString('en')} tasks only; steps from the last due date (drifts)`,
      },
    ];
  },
};
