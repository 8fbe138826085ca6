import type { ChaosJob } from '../types.js';
import { countsOf, DATABASE_JOB, NOW, seedUsers, tally } from './support.js';

/**
 * `items` open tasks past due (minutes to days), with OVERDUE_NOTIFY on, beside controls that must
 * stay open: due later, and completed. Done: flipped with `overdue_at` and exactly one overdue
 * notification (per task and due date, counted from the rows, not the key).
 */
export const overdueChaos: ChaosJob = {
  name: 'overdue',
  ...DATABASE_JOB,
  async world(items) {
    return {
      env: { OVERDUE_NOTIFY: 'true' },
      async seed(knex) {
        await seedUsers(knex, 100);
        await knex.raw(
          `INSERT INTO tasks (user_id, title, due_date, completed)
           SELECT u.ids[1 + i % 100], kind || ' ' || i,
                  CASE kind WHEN 'later' THEN :now::timestamptz + i * interval '1 minute'
                            ELSE :now::timestamptz - (i % 5000) * interval '1 minute' - interval '1 second' END,
                  kind = 'completed'
             FROM (SELECT i, 'due' AS kind FROM generate_series(1, :items) i
                   UNION ALL SELECT i, 'later' FROM generate_series(1, :controls) i
                   UNION ALL SELECT i, 'completed' FROM generate_series(1, :controls) i) s,
                  (SELECT array_agg(id) AS ids FROM users) u`,
          { now: NOW, items, controls: Math.ceil(items / 10) },
        );
      },
      async check(knex) {
        const c = await countsOf(
          knex,
          `WITH notes AS (SELECT data->>'task_id' AS task_id, count(*) AS notes FROM notifications WHERE source = 'overdue' GROUP BY 1),
           per_task AS (
             SELECT t.title, t.status, t.overdue_at, coalesce(n.notes, 0) AS notes
               FROM tasks t LEFT JOIN notes n ON n.task_id = t.id::text)
           SELECT count(*) FILTER (WHERE title LIKE 'due %') AS expected,
                  count(*) FILTER (WHERE title LIKE 'due %' AND status = 'overdue' AND overdue_at IS NOT NULL AND notes >= 1) AS done,
                  coalesce(sum(notes - 1) FILTER (WHERE notes > 1), 0) AS duplicates,
                  count(*) FILTER (WHERE title LIKE 'due %' AND ((status = 'overdue') <> (notes >= 1) OR (status = 'overdue') <> (overdue_at IS NOT NULL))) AS half,
                  count(*) FILTER (WHERE title NOT LIKE 'due %' AND (status = 'overdue' OR notes > 0)) AS wrong
             FROM per_task`,
        );
        return tally({ expected: c.expected, done: c.done, duplicates: c.duplicates, halfWritten: c.half, wrong: c.wrong });
      },
      close: async () => undefined,
    };
  },
};
