import type { ChaosJob } from '../types.js';
import { countsOf, DATABASE_JOB, NOW, seedUsers, tally } from './support.js';

/**
 * `items` completed recurring tasks (all four kinds; one in ten with a reminder that must travel
 * to the next instance) beside one-off completed tasks that must get nothing. Done: exactly one
 * child per source, the source stamped `last_processed_at`, the reminder carried once.
 */
export const recurringChaos: ChaosJob = {
  name: 'recurring',
  ...DATABASE_JOB,
  async world(items) {
    return {
      env: {},
      async seed(knex) {
        await seedUsers(knex, 100, "ARRAY['UTC', 'Europe/Berlin', 'America/New_York', 'Asia/Kolkata']");
        await knex.raw(
          `INSERT INTO tasks (user_id, title, due_date, completed, completed_at, is_recurring, recurrence_type, recurrence_interval)
           SELECT u.ids[1 + i % 100], kind || ' ' || i, due, true, due + interval '5 minutes', kind = 'series',
                  CASE WHEN kind = 'series' THEN (ARRAY['daily', 'weekly', 'monthly', 'yearly'])[1 + i % 4] END,
                  1 + i % 3
             FROM (SELECT i, 'series' AS kind FROM generate_series(1, :items) i
                   UNION ALL SELECT i, 'one-off' FROM generate_series(1, :controls) i) s,
                  LATERAL (SELECT :now::timestamptz - (i % 5000) * interval '1 minute' - interval '1 hour' AS due) d,
                  (SELECT array_agg(id) AS ids FROM users) u`,
          { now: NOW, items, controls: Math.ceil(items / 10) },
        );
        await knex.raw(
          `INSERT INTO reminders (user_id, task_id, remind_at, sent, sent_at, outcome)
           SELECT user_id, id, due_date - interval '1 hour', true, due_date - interval '1 hour', 'queued'
             FROM tasks WHERE title LIKE 'series %' AND split_part(title, ' ', 2)::int % 10 = 0`,
        );
      },
      async check(knex) {
        const c = await countsOf(
          knex,
          `WITH children AS (SELECT recurrence_parent_id AS parent, count(*) AS n FROM tasks
                               WHERE recurrence_parent_id IS NOT NULL GROUP BY 1),
                carried AS (SELECT t.recurrence_parent_id AS parent, count(*) AS n FROM reminders r JOIN tasks t ON t.id = r.task_id
                             WHERE t.recurrence_parent_id IS NOT NULL GROUP BY 1),
                own AS (SELECT task_id, true AS has FROM reminders WHERE task_id IS NOT NULL GROUP BY 1),
                per_source AS (
                  SELECT p.title, p.last_processed_at, coalesce(c.n, 0) AS children,
                         coalesce(o.has, false) AS has_reminder, coalesce(cr.n, 0) AS carried
                    FROM tasks p LEFT JOIN children c ON c.parent = p.id LEFT JOIN carried cr ON cr.parent = p.id
                         LEFT JOIN own o ON o.task_id = p.id
                   WHERE p.recurrence_parent_id IS NULL)
           SELECT count(*) FILTER (WHERE title LIKE 'series %') AS expected,
                  count(*) FILTER (WHERE title LIKE 'series %' AND children >= 1 AND last_processed_at IS NOT NULL
                                     AND carried >= has_reminder::int) AS done,
                  coalesce(sum(children - 1) FILTER (WHERE children > 1), 0)
                    + coalesce(sum(carried - 1) FILTER (WHERE carried > 1), 0) AS duplicates,
                  count(*) FILTER (WHERE title LIKE 'series %' AND ((children >= 1) <> (last_processed_at IS NOT NULL)
                                     OR (children >= 1 AND carried < has_reminder::int))) AS half,
                  count(*) FILTER (WHERE title LIKE 'one-off %' AND children > 0) AS wrong
             FROM per_source`,
        );
        return tally({ expected: c.expected, done: c.done, duplicates: c.duplicates, halfWritten: c.half, wrong: c.wrong });
      },
      close: async () => undefined,
    };
  },
  // Due dates PostgreSQL stores but cannot count from, completed before everything else.
  poison: {
    plant: `INSERT INTO tasks (user_id, title, due_date, completed, completed_at, is_recurring, recurrence_type, recurrence_interval)
            SELECT (SELECT id FROM users ORDER BY email LIMIT 1), 'poison ' || due, due::timestamptz, true,
                   '2000-01-01T00:00:00Z', true, 'daily', 1
              FROM unnest(ARRAY['-infinity', 'infinity']) due
            RETURNING id`,
    changed: `SELECT count(*) AS n FROM tasks p
                WHERE p.title LIKE 'poison %'
                  AND (p.last_processed_at IS NOT NULL OR EXISTS (SELECT 1 FROM tasks c WHERE c.recurrence_parent_id = p.id))`,
  },
};
