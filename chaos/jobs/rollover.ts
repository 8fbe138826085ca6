import { seedRollover } from '../../bench/rollover.js';
import type { ChaosJob } from '../types.js';
import { countsOf, DATABASE_JOB, NOW, tally } from './support.js';

const THRESHOLD = 75;

// A user's local yesterday at the run's now: the one day every user is due to close.
const YESTERDAY = `((:now::timestamptz AT TIME ZONE u.timezone)::date - 1)`;
// The seed's user index, from the email: what the check recomputes the score and streak from.
const INDEX = `split_part(split_part(u.email, '@', 1), '-', 2)::int`;

/**
 * `items` users over 320 zones, each due to close local yesterday: a plan of 10 tasks (4 to 10
 * done, by the user's index) and a routine of 5 (3 done), so scores run 46.67 to 86.67 and some
 * keep a streak. Done: one performance_history row for the day with the recomputed score, the
 * streak recomputed from it, `last_rollover_date` moved, the routine reset (one without the others
 * is half-written).
 */
export const rolloverChaos: ChaosJob = {
  name: 'rollover',
  ...DATABASE_JOB,
  async world(items) {
    return {
      env: { STREAK_THRESHOLD: String(THRESHOLD) },
      seed: (knex) => seedRollover(knex, items, `4 + ${INDEX} % 7`),
      async check(knex) {
        const c = await countsOf(
          knex,
          `WITH history AS (SELECT user_id, count(*) AS rows, max(score) AS score, min(date) AS first, max(date) AS last
                              FROM performance_history GROUP BY 1),
                unreset AS (SELECT user_id, count(*) AS n FROM routine_tasks WHERE completed GROUP BY 1),
                per_user AS (
                  SELECT u.last_rollover_date = ${YESTERDAY} AS advanced, coalesce(h.rows, 0) AS rows,
                         h.first = ${YESTERDAY} AND h.last = ${YESTERDAY} AS right_day,
                         h.score = round((7 + ${INDEX} % 7) * 100.0 / 15, 2) AS right_score,
                         coalesce(s.current, 0) = CASE WHEN (7 + ${INDEX} % 7) * 100 >= :threshold * 15 THEN 1 ELSE 0 END AS right_streak,
                         coalesce(r.n, 0) = 0 AS reset
                    FROM users u LEFT JOIN history h ON h.user_id = u.id LEFT JOIN streaks s ON s.user_id = u.id
                         LEFT JOIN unreset r ON r.user_id = u.id
                   WHERE u.email NOT LIKE 'poison-%')
           SELECT count(*) AS expected,
                  count(*) FILTER (WHERE advanced AND rows = 1 AND right_day AND reset) AS done,
                  coalesce(sum(rows - 1) FILTER (WHERE rows > 1), 0) AS duplicates,
                  count(*) FILTER (WHERE advanced <> (rows >= 1) OR (advanced AND NOT reset)) AS half,
                  count(*) FILTER (WHERE rows >= 1 AND (NOT right_day OR NOT right_score OR right_streak IS NOT TRUE)) AS wrong
             FROM per_user`,
          { now: NOW, threshold: THRESHOLD },
        );
        return tally({ expected: c.expected, done: c.done, duplicates: c.duplicates, halfWritten: c.half, wrong: c.wrong });
      },
      close: async () => undefined,
    };
  },
  // Zone names that name no zone (the API stores what the browser sent), each with a day to close.
  poison: {
    plant: `INSERT INTO users (email, timezone)
            SELECT 'poison-' || zone || '@example.test', zone FROM unnest(ARRAY['Mars/Olympus', 'Europe/Atlantis']) zone
            RETURNING id`,
    changed: `SELECT count(*) AS n FROM users u
                WHERE u.email LIKE 'poison-%'
                  AND (u.last_rollover_date IS NOT NULL OR EXISTS (SELECT 1 FROM performance_history h WHERE h.user_id = u.id))`,
  },
};
