import type { ChaosJob } from '../types.js';
import { countsOf, DATABASE_JOB, NOW, seedUsers, tally } from './support.js';

/**
 * `items` due reminders of open tasks (within REMINDER_MAX_LATENESS), beside reminders not due yet.
 * Done: marked sent (`queued`) with exactly one notification, counted by the reminder id in the
 * notification's data (not by its dedupe key).
 */
export const remindersChaos: ChaosJob = {
  name: 'reminders',
  ...DATABASE_JOB,
  async world(items) {
    return {
      env: {},
      async seed(knex) {
        await seedUsers(knex, 100, "ARRAY['Europe/Berlin', 'Asia/Kathmandu']");
        await knex.raw(
          `WITH u AS (SELECT array_agg(id) AS ids FROM users),
                t AS (INSERT INTO tasks (user_id, title, due_date)
                      SELECT u.ids[1 + i % 100], 'Task ' || i, :now::timestamptz + interval '1 hour' FROM generate_series(1, :total) i, u
                      RETURNING id, user_id, title)
           INSERT INTO reminders (user_id, task_id, remind_at, message)
           SELECT user_id, id,
                  CASE WHEN split_part(title, ' ', 2)::int <= :items THEN :now::timestamptz - split_part(title, ' ', 2)::int % 3000 * interval '1 second'
                       ELSE :now::timestamptz + interval '30 minutes' END,
                  CASE WHEN split_part(title, ' ', 2)::int <= :items THEN 'due' ELSE 'later' END
             FROM t`,
          { now: NOW, items, total: items + Math.ceil(items / 10) },
        );
      },
      async check(knex) {
        const c = await countsOf(
          knex,
          `WITH notes AS (SELECT data->>'reminder_id' AS id, count(*) AS n FROM notifications WHERE source = 'reminder' GROUP BY 1),
                per_reminder AS (SELECT r.message, r.sent, r.outcome, coalesce(n.n, 0) AS notes
                                   FROM reminders r LEFT JOIN notes n ON n.id = r.id::text)
           SELECT count(*) FILTER (WHERE message = 'due') AS expected,
                  count(*) FILTER (WHERE message = 'due' AND sent AND outcome = 'queued' AND notes >= 1) AS done,
                  coalesce(sum(notes - 1) FILTER (WHERE notes > 1), 0) AS duplicates,
                  count(*) FILTER (WHERE message = 'due' AND sent <> (notes >= 1)) AS half,
                  count(*) FILTER (WHERE message = 'later' AND (sent OR notes > 0)) AS wrong
             FROM per_reminder`,
        );
        return tally({ expected: c.expected, done: c.done, duplicates: c.duplicates, halfWritten: c.half, wrong: c.wrong });
      },
      close: async () => undefined,
    };
  },
};
