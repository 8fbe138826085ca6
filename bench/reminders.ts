import type { Knex } from 'knex';
import { compareJob, type Benchmark } from './support/benchmark.js';

const NOW = '2025-06-01T12:00:00Z';
const NAIVE_SAMPLE = 10_000;
/** REMINDER_MAX_LATENESS's default before NOW: nothing seeded is older. */
const OLDEST = '2025-05-31T12:00:00Z';

/** `rows` due reminders over 1,000 users, each of an open task. */
export async function seedReminders(knex: Knex, rows: number): Promise<void> {
  await knex.raw(
    `INSERT INTO users (email, timezone) SELECT 'bench-' || i || '@example.test', 'Europe/Berlin' FROM generate_series(1, 1000) i`,
  );
  await knex.raw(
    `WITH u AS (SELECT array_agg(id) AS ids FROM users),
            t AS (INSERT INTO tasks (user_id, title, due_date)
                  SELECT u.ids[1 + i % 1000], 'Task ' || i, :now::timestamptz + interval '1 hour' FROM generate_series(1, :rows) i, u
                  RETURNING id, user_id, due_date)
       INSERT INTO reminders (user_id, task_id, remind_at)
       SELECT user_id, id, :now::timestamptz - (random() * interval '50 minutes') FROM t`,
    { rows, now: NOW },
  );
}

/**
 * `rows` due reminders over 1,000 users, each of an open task (the common case: every one is
 * queued). The job through the CLI; the floor: the same work as two raw statements over the
 * whole table (insert every notification as the job writes it, mark every reminder); the naive way: per reminder,
 * read it, insert its notification, mark it. The CLI gets `--max-runtime 3600`: with the default
 * 50 s budget a backlog this size is shared by several minutely runs.
 */
export const remindersBench: Benchmark = {
  name: 'reminders',
  describe: ({ rows }) => `reminders: ${rows.toLocaleString('en')} due reminders of open tasks`,
  async run(server, { rows }) {
    const copy = await server.seeded((knex) => seedReminders(knex, rows));

    const naiveRows = Math.min(rows, NAIVE_SAMPLE);
    return compareJob(copy, {
      cli: ['reminders', '--now', NOW, '--json', '--max-runtime', '3600'],
      floor: {
        variant: 'floor: one INSERT … SELECT and one UPDATE',
        items: rows,
        compared:
          'The same change in one transaction: one INSERT … SELECT of every notification as the job writes it, one UPDATE marking every reminder (1 thread, one connection).',
        run: (knex) =>
          knex.transaction(async (trx) => {
            await trx.raw(
              `INSERT INTO notifications (user_id, title, body, url, data, channels, source, dedupe_key, run_after, created_at)
           SELECT r.user_id, coalesce(r.message, t.title, 'Reminder'),
                  'Due ' || to_char(t.due_date AT TIME ZONE u.timezone, 'Dy DD Mon YYYY, HH24:MI') || ' (' || u.timezone || ')',
                  '/tasks/' || r.task_id, jsonb_build_object('reminder_id', r.id, 'task_id', r.task_id, 'remind_at', r.remind_at),
                  r.channels, 'reminder', 'reminder:' || r.id, :now, :now
             FROM reminders r JOIN users u ON u.id = r.user_id LEFT JOIN tasks t ON t.id = r.task_id
            WHERE NOT r.sent AND r.remind_at <= :now AND NOT t.completed AND r.remind_at >= :oldest
           ON CONFLICT (dedupe_key) DO NOTHING`,
              { now: NOW, oldest: OLDEST },
            );
            await trx.raw(
              `UPDATE reminders SET sent = true, sent_at = :now, outcome = 'queued' WHERE NOT sent AND remind_at <= :now`,
              { now: NOW },
            );
          }),
      },
      naive: {
        variant: 'naive: read, insert, update per reminder',
        items: naiveRows,
        compared:
          'Per reminder, read its task, insert its notification, mark it sent, one after another from this process (1 thread).',
        async run(knex) {
          const due = await knex('reminders').where('remind_at', '<=', NOW).andWhere({ sent: false }).limit(naiveRows);
          for (const r of due) {
            const task = await knex('tasks').where({ id: r.task_id }).first();
            await knex('notifications').insert({
              user_id: r.user_id,
              title: task.title,
              source: 'reminder',
              dedupe_key: `reminder:${r.id}`,
              run_after: NOW,
            });
            await knex('reminders').where({ id: r.id }).update({ sent: true, sent_at: NOW, outcome: 'queued' });
          }
        },
      },
    });
  },
};
