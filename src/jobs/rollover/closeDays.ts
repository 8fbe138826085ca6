import type { Step } from '../../core/batches.js';
import { Sql, query, sql } from '../../core/sql.js';
import type { RolloverSettings } from './index.js';
import { completedBy, dayExisted, isDue, type ZoneDays } from './localDays.js';

// The zones of the run as a table, with their values: `zone` is the stored name (what users rows
// hold, and their index); `resolved` is what wall-clock expressions use (see resolveZones).
const zoneToday = (days: ZoneDays) =>
  sql`unnest(${days.zones}::text[], ${days.resolved}::text[], ${days.todays}::date[]) AS zt(zone, resolved, today)`;

// The claim's order within a zone: `users_rollover_due_idx` is (timezone, this, id).
const DUE_KEY = Sql.text("coalesce(u.last_rollover_date, '-infinity'::date)");

/**
 * Claims due users zone after zone, in each zone in index order, with a keyset cursor: each
 * claim continues after the last (zone, last closed day, id) the previous one claimed, instead of
 * stepping again over the index entries of the users this run already rolled over (they stay in
 * `users_rollover_due_idx` until vacuum, and past it while another session holds a snapshot).
 * A zone is left once a claim finds fewer due users in it than it asked for. NO KEY UPDATE:
 * enough to keep other runs off these users (SKIP LOCKED: a user another run holds is its), while
 * the API can still insert rows that reference them (a task, a plan).
 */
function claimZoneByZone(days: ZoneDays): Step['claim'] {
  let zone = 0;
  let after: { due: string; id: string } | undefined;
  return async (trx, _ctx, limit, exclude) => {
    const ids: string[] = [];
    while (zone < days.zones.length && ids.length < limit) {
      const wanted = limit - ids.length;
      const users = await query<{ id: string; due: string }>(
        trx,
        sql`/* planner-jobs:rollover.claimDueUsers */ SELECT u.id, ${DUE_KEY}::text AS due
           FROM users u
          WHERE u.timezone = ${days.zones[zone]} AND ${isDue('u', sql`${days.todays[zone]}::date`)}
            ${after ? sql`AND (${DUE_KEY}, u.id) > (${after.due}::date, ${after.id}::uuid)` : Sql.text('')}
            AND u.id <> ALL (${exclude}::uuid[])
          ORDER BY ${DUE_KEY}, u.id
          LIMIT ${wanted}
          FOR NO KEY UPDATE OF u SKIP LOCKED`,
      );
      ids.push(...users.map((user) => user.id));
      after = users.at(-1) ?? after;
      if (users.length < wanted) {
        zone += 1;
        after = undefined;
      }
    }
    return ids;
  };
}

interface Closed {
  users: string[];
  days_closed: number;
  days_scored: number;
  routine_tasks_reset: number;
  tasks_carried_over: number;
  /** Users whose backlog was longer than ROLLOVER_MAX_CATCHUP_DAYS, with the days jumped over. */
  jumped: { id: string; days: number; from: string; to: string }[] | null;
}

/**
 * Closes every due day of the claimed users in ONE statement per batch:
 * 1. advance `last_rollover_date` to local yesterday (compare-and-set on the value read; only forward);
 * 2. score each day from the day after the previous value to local yesterday (capped): plan tasks
 *    completed by the end of the day, and, for the most recent day only, the routine tasks;
 * 3. record the scores (unique (user_id, date), ON CONFLICT DO NOTHING);
 * 4. walk the streak over the days recorded, in order;
 * 5. reset the routine tasks completed by the end of the last day (one completed after it, on the
 *    new day before this run, keeps its flag);
 * 6. with ROLLOVER_CARRY_OVER, add the last day's unfinished plan tasks to the new day's plan.
 * Every later part reads only rows an earlier part returned, so a user whose compare-and-set fails
 * gets nothing else, and no day is closed twice. The claimed ids are repeated (`= ANY (:ids)`) on
 * each table joined by user, so that PostgreSQL reads them through their user index instead of
 * scanning them whole for every batch.
 */
export const closeDays = (days: ZoneDays, settings: RolloverSettings): Step => ({
  name: 'rolled_over',

  claim: claimZoneByZone(days),

  async apply(trx, ctx, ids) {
    const [closed] = await query<Closed>(
      trx,
      sql`/* planner-jobs:rollover.closeDays */ WITH due AS (
         SELECT u.id AS user_id, zt.resolved AS zone, u.last_rollover_date AS previous, zt.today
           FROM users u JOIN ${zoneToday(days)} ON zt.zone = u.timezone
          WHERE u.id = ANY (${ids}::uuid[]) AND ${isDue('u', Sql.text('zt.today'))}
       ), advanced AS (
         UPDATE users u SET last_rollover_date = due.today - 1
           FROM due
          WHERE u.id = due.user_id AND u.last_rollover_date IS NOT DISTINCT FROM due.previous
         RETURNING due.user_id, due.zone, due.today,
                   coalesce(due.previous + 1, due.today - 1) AS first_due,
                   greatest(coalesce(due.previous + 1, due.today - 1), due.today - ${settings.maxCatchupDays}::int) AS first_day
       ), days AS (
         SELECT a.user_id, a.zone, a.first_day + i AS day
           FROM advanced a, generate_series(0, a.today - 1 - a.first_day) AS i
          WHERE ${dayExisted('(a.first_day + i)', 'a.zone')}
       ), closing AS (
         SELECT user_id, zone, max(day) AS last_day FROM days GROUP BY user_id, zone
       ), plan_scores AS (
         SELECT d.user_id, d.day, count(*) AS total, count(*) FILTER (WHERE ${completedBy('t', 'd.day', 'd.zone')}) AS done
           FROM days d
           JOIN daily_plans p ON p.user_id = d.user_id AND p.plan_date = d.day
           JOIN daily_plan_tasks pt ON pt.plan_id = p.id
           JOIN tasks t ON t.id = pt.task_id
          WHERE p.user_id = ANY (${ids}::uuid[])
          GROUP BY d.user_id, d.day
       ), routine_scores AS (
         -- Routine flags hold one day's state: they count toward the most recent day closed only.
         SELECT c.user_id, c.last_day AS day, count(*) AS total,
                count(*) FILTER (WHERE ${completedBy('rt', 'c.last_day', 'c.zone')}) AS done
           FROM closing c
           JOIN daily_routines r ON r.user_id = c.user_id AND r.active
           JOIN routine_tasks rt ON rt.routine_id = r.id
          WHERE r.user_id = ANY (${ids}::uuid[])
          GROUP BY c.user_id, c.last_day
       ), scores AS (
         SELECT d.user_id, d.day,
                (coalesce(ps.total, 0) + coalesce(rs.total, 0))::int AS total,
                (coalesce(ps.done, 0) + coalesce(rs.done, 0))::int AS done
           FROM days d
           LEFT JOIN plan_scores ps ON ps.user_id = d.user_id AND ps.day = d.day
           LEFT JOIN routine_scores rs ON rs.user_id = d.user_id AND rs.day = d.day
       ), recorded AS (
         INSERT INTO performance_history (user_id, date, score, completed_count, total_count, created_at)
         SELECT user_id, day, CASE WHEN total > 0 THEN round(done * 100.0 / total, 2) END, done, total, ${ctx.now}
           FROM scores
         ON CONFLICT (user_id, date) DO NOTHING
         RETURNING user_id, date, completed_count, total_count
       ), marks AS (
         -- The streak walks the scored days this statement recorded; a day with nothing planned is neutral.
         SELECT user_id, date, completed_count * 100 >= ${settings.streakThreshold}::int * total_count AS kept
           FROM recorded
          WHERE total_count > 0
       ), runs AS (
         -- breaks: the days below the threshold so far, this one included.
         SELECT user_id, date, kept, count(*) FILTER (WHERE NOT kept) OVER (PARTITION BY user_id ORDER BY date) AS breaks
           FROM marks
       ), streak_by_day AS (
         -- The streak at the end of each day: kept days since the last break, on top of the stored
         -- streak while no break has come yet.
         SELECT m.user_id, m.date, m.kept,
                CASE WHEN m.kept
                     THEN count(*) FILTER (WHERE m.kept) OVER (PARTITION BY m.user_id, m.breaks ORDER BY m.date)
                          + CASE WHEN m.breaks = 0 THEN coalesce(s.current, 0) ELSE 0 END
                     ELSE 0 END AS streak
           FROM runs m LEFT JOIN streaks s ON s.user_id = m.user_id
       ), walked AS (
         SELECT user_id,
                (array_agg(streak ORDER BY date DESC))[1] AS current,
                max(streak) AS longest,
                max(date) FILTER (WHERE kept) AS last_activity_date
           FROM streak_by_day
          GROUP BY user_id
       ), streaked AS (
         INSERT INTO streaks AS s (user_id, current, longest, last_activity_date, updated_at)
         SELECT user_id, current, longest, last_activity_date, ${ctx.now} FROM walked
         ON CONFLICT (user_id) DO UPDATE
           SET current = excluded.current,
               longest = greatest(s.longest, excluded.longest),
               last_activity_date = coalesce(excluded.last_activity_date, s.last_activity_date),
               updated_at = excluded.updated_at
       ), reset AS (
         UPDATE routine_tasks rt SET completed = false, completed_at = NULL
           FROM closing c
          WHERE rt.user_id = c.user_id AND rt.user_id = ANY (${ids}::uuid[]) AND ${completedBy('rt', 'c.last_day', 'c.zone')}
         RETURNING rt.id
       ), unfinished AS (
         SELECT c.user_id, a.today, pt.task_id
           FROM closing c
           JOIN advanced a ON a.user_id = c.user_id
           JOIN daily_plans p ON p.user_id = c.user_id AND p.plan_date = c.last_day
           JOIN daily_plan_tasks pt ON pt.plan_id = p.id
           JOIN tasks t ON t.id = pt.task_id
          WHERE ${settings.carryOver} AND p.user_id = ANY (${ids}::uuid[]) AND NOT ${completedBy('t', 'c.last_day', 'c.zone')}
       ), new_plans AS (
         -- DO UPDATE (a no-op) so that the plan's id comes back whether it was made now or by the API.
         INSERT INTO daily_plans AS p (user_id, plan_date)
         SELECT DISTINCT user_id, today FROM unfinished
         ON CONFLICT (user_id, plan_date) DO UPDATE SET plan_date = p.plan_date
         RETURNING id, user_id
       ), carried AS (
         INSERT INTO daily_plan_tasks (plan_id, task_id)
         SELECT np.id, u.task_id FROM unfinished u JOIN new_plans np ON np.user_id = u.user_id
         ON CONFLICT DO NOTHING
         RETURNING task_id
       )
       SELECT coalesce((SELECT array_agg(user_id::text) FROM advanced), '{}') AS users,
              (SELECT count(*)::int FROM recorded) AS days_closed,
              (SELECT count(*)::int FROM recorded WHERE total_count > 0) AS days_scored,
              (SELECT count(*)::int FROM reset) AS routine_tasks_reset,
              (SELECT count(*)::int FROM carried) AS tasks_carried_over,
              (SELECT json_agg(json_build_object('id', user_id, 'days', first_day - first_due,
                                                 'from', first_due, 'to', first_day - 1))
                 FROM advanced WHERE first_day > first_due) AS jumped`,
    );
    for (const user of closed.jumped ?? []) {
      ctx.log.warn(
        { userId: user.id, skippedDays: user.days, from: user.from, to: user.to },
        `rollover: user ${user.id} was ${user.days} day(s) beyond ROLLOVER_MAX_CATCHUP_DAYS; ${user.from}..${user.to} left unscored`,
      );
    }
    if (closed.users.length > 0) {
      ctx.log.info(
        { users: closed.users, daysClosed: closed.days_closed, daysScored: closed.days_scored },
        `rollover: closed ${closed.days_closed} day(s) of ${closed.users.length} user(s)`,
      );
    }
    return {
      done: closed.users,
      counts: {
        days_closed: closed.days_closed,
        days_scored: closed.days_scored,
        routine_tasks_reset: closed.routine_tasks_reset,
        tasks_carried_over: closed.tasks_carried_over,
        catchup_days_skipped: (closed.jumped ?? []).reduce((sum, user) => sum + user.days, 0),
      },
    };
  },
});
