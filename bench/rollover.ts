import type { Knex } from 'knex';
import { cliCompared, type Benchmark } from './support/benchmark.js';
import { time, timeCli, timing } from './support/measure.js';
import type { BenchServer } from './support/server.js';

/** The run's now for every variant (and the seed's local yesterday). */
export const NOW = '2025-06-01T12:00:00Z';
const ZONES = 320;
const NAIVE_SAMPLE = 2_000;

// Local yesterday of a user, the day every variant closes.
const YESTERDAY = `((:now::timestamptz AT TIME ZONE u.timezone)::date - 1)`;

/**
 * `rows` users spread over 320 zones, each due for local yesterday, with a plan of 10 tasks for it
 * (`planDone` of them done, 7 unless an SQL expression over the user `u` says otherwise) and a
 * routine of 5 (3 done): every user changes (score, streak, routine reset). Emails are
 * `bench-<i>@example.test`, `i` counting from 1.
 */
export async function seedRollover(knex: Knex, rows: number, planDone = '7'): Promise<void> {
  await knex.raw(
    `WITH zones AS (
       SELECT array_agg(name ORDER BY name) AS names FROM (
         SELECT name FROM pg_timezone_names WHERE name ~ '^(Africa|America|Antarctica|Asia|Atlantic|Australia|Europe|Indian|Pacific)/'
         ORDER BY name LIMIT :zones) z)
     INSERT INTO users (email, timezone, last_rollover_date)
     SELECT 'bench-' || i || '@example.test', zones.names[1 + i % :zones], NULL FROM generate_series(1, :rows) i, zones`,
    { rows, zones: ZONES },
  );
  await knex.raw(`UPDATE users u SET last_rollover_date = ${YESTERDAY} - 1`, { now: NOW });
  await knex.raw(`INSERT INTO daily_plans (user_id, plan_date) SELECT u.id, ${YESTERDAY} FROM users u`, { now: NOW });
  await knex.raw(
    `INSERT INTO tasks (user_id, title, completed, completed_at)
     SELECT u.id, 'Task ' || n, n <= ${planDone}, CASE WHEN n <= ${planDone} THEN (${YESTERDAY} + time '12:00') AT TIME ZONE u.timezone END
       FROM users u, generate_series(1, 10) n`,
    { now: NOW },
  );
  await knex.raw(
    `INSERT INTO daily_plan_tasks (plan_id, task_id) SELECT p.id, t.id FROM daily_plans p JOIN tasks t ON t.user_id = p.user_id`,
  );
  await knex.raw(`INSERT INTO daily_routines (user_id, title) SELECT id, 'Morning' FROM users`);
  await knex.raw(
    `INSERT INTO routine_tasks (routine_id, user_id, title, completed, completed_at, position)
     SELECT r.id, u.id, 'Step ' || n, n <= 3, CASE WHEN n <= 3 THEN (${YESTERDAY} + time '08:00') AT TIME ZONE u.timezone END, n
       FROM daily_routines r JOIN users u ON u.id = r.user_id, generate_series(1, 5) n`,
    { now: NOW },
  );
}

/** The settings every variant follows (the CLI through its environment): carry-over on, so every part of the job runs. */
const STREAK_THRESHOLD = 75;
export const SETTINGS = { STREAK_THRESHOLD: String(STREAK_THRESHOLD), ROLLOVER_CARRY_OVER: 'true' };

/**
 * The floor: the job's whole change for every user in one transaction, one set-based statement per
 * table, knowing what the seed guarantees (each user closes exactly local yesterday): the scores,
 * the streaks, the routine reset, the plan carry-over, `last_rollover_date`.
 */
const FLOOR = [
  `WITH due AS (
     SELECT u.id AS user_id, u.timezone AS zone, ${YESTERDAY} AS day FROM users u
   ), plan AS (
     SELECT due.user_id, count(*) AS total,
            count(*) FILTER (WHERE t.completed AND (t.completed_at AT TIME ZONE due.zone)::date <= due.day) AS done
       FROM due JOIN daily_plans p ON p.user_id = due.user_id AND p.plan_date = due.day
       JOIN daily_plan_tasks pt ON pt.plan_id = p.id JOIN tasks t ON t.id = pt.task_id
      GROUP BY due.user_id
   ), routine AS (
     SELECT due.user_id, count(*) AS total,
            count(*) FILTER (WHERE rt.completed AND (rt.completed_at AT TIME ZONE due.zone)::date <= due.day) AS done
       FROM due JOIN daily_routines r ON r.user_id = due.user_id AND r.active JOIN routine_tasks rt ON rt.routine_id = r.id
      GROUP BY due.user_id
   )
   INSERT INTO performance_history (user_id, date, score, completed_count, total_count, created_at)
   SELECT due.user_id, due.day, round((plan.done + routine.done) * 100.0 / (plan.total + routine.total), 2),
          plan.done + routine.done, plan.total + routine.total, :now
     FROM due JOIN plan USING (user_id) JOIN routine USING (user_id)
   ON CONFLICT (user_id, date) DO NOTHING`,
  `INSERT INTO streaks AS s (user_id, current, longest, last_activity_date, updated_at)
   SELECT ph.user_id, CASE WHEN ph.kept THEN coalesce(old.current, 0) + 1 ELSE 0 END,
          CASE WHEN ph.kept THEN coalesce(old.current, 0) + 1 ELSE 0 END, CASE WHEN ph.kept THEN ph.date END, :now
     FROM (SELECT user_id, date, completed_count * 100 >= :threshold::int * total_count AS kept
             FROM performance_history WHERE created_at = :now AND total_count > 0) ph
     LEFT JOIN streaks old ON old.user_id = ph.user_id
   ON CONFLICT (user_id) DO UPDATE
     SET current = excluded.current, longest = greatest(s.longest, excluded.longest),
         last_activity_date = coalesce(excluded.last_activity_date, s.last_activity_date), updated_at = excluded.updated_at`,
  `UPDATE routine_tasks rt SET completed = false, completed_at = NULL
     FROM users u
    WHERE rt.user_id = u.id AND rt.completed AND (rt.completed_at AT TIME ZONE u.timezone)::date <= ${YESTERDAY}`,
  `WITH unfinished AS (
     SELECT u.id AS user_id, ${YESTERDAY} + 1 AS today, pt.task_id
       FROM users u JOIN daily_plans p ON p.user_id = u.id AND p.plan_date = ${YESTERDAY}
       JOIN daily_plan_tasks pt ON pt.plan_id = p.id JOIN tasks t ON t.id = pt.task_id
      WHERE NOT (t.completed AND (t.completed_at AT TIME ZONE u.timezone)::date <= ${YESTERDAY})
   ), new_plans AS (
     INSERT INTO daily_plans AS p (user_id, plan_date) SELECT DISTINCT user_id, today FROM unfinished
     ON CONFLICT (user_id, plan_date) DO UPDATE SET plan_date = p.plan_date
     RETURNING id, user_id
   )
   INSERT INTO daily_plan_tasks (plan_id, task_id)
   SELECT np.id, un.task_id FROM unfinished un JOIN new_plans np USING (user_id)
   ON CONFLICT DO NOTHING`,
  `UPDATE users u SET last_rollover_date = ${YESTERDAY}`,
];

/** Runs the floor's statements in one transaction on a `seedRollover` copy; the number of users scored. */
export const floorRollover = (knex: Knex): Promise<number> =>
  knex.transaction(async (trx) => {
    let scored = 0;
    for (const [i, statement] of FLOOR.entries()) {
      const result = await trx.raw<{ rowCount: number }>(statement, { now: NOW, threshold: STREAK_THRESHOLD });
      if (i === 0) scored = result.rowCount;
    }
    return scored;
  });

/** The naive way: per user, read the plan, the routine and the streak, then one write per table. */
async function naiveRollover(knex: Knex, limit: number): Promise<void> {
  const users = await knex.raw(
    `SELECT u.id, u.timezone, ${YESTERDAY}::text AS day, (${YESTERDAY} + 1)::text AS today FROM users u LIMIT :limit`,
    {
      now: NOW,
      limit,
    },
  );
  for (const user of users.rows as { id: string; timezone: string; day: string; today: string }[]) {
    const tasks = await knex('tasks')
      .join('daily_plan_tasks', 'daily_plan_tasks.task_id', 'tasks.id')
      .join('daily_plans', 'daily_plans.id', 'daily_plan_tasks.plan_id')
      .where({ 'daily_plans.user_id': user.id, 'daily_plans.plan_date': user.day })
      .select('tasks.id', 'tasks.completed');
    const routine = await knex('routine_tasks').where({ user_id: user.id }).select('completed');
    const streak = await knex('streaks').where({ user_id: user.id }).first();
    const all = [...tasks, ...routine];
    const done = all.filter((row) => row.completed).length;
    const kept = all.length > 0 && done * 100 >= STREAK_THRESHOLD * all.length;
    const current = kept ? (streak?.current ?? 0) + 1 : 0;
    await knex('performance_history').insert({
      user_id: user.id,
      date: user.day,
      score: all.length ? Math.round((done * 10000) / all.length) / 100 : null,
      completed_count: done,
      total_count: all.length,
    });
    await knex('streaks')
      .insert({
        user_id: user.id,
        current,
        longest: Math.max(current, streak?.longest ?? 0),
        last_activity_date: kept ? user.day : (streak?.last_activity_date ?? null),
      })
      .onConflict('user_id')
      .merge();
    await knex('routine_tasks').where({ user_id: user.id }).update({ completed: false, completed_at: null });
    const unfinished = tasks.filter((task) => !task.completed);
    if (unfinished.length > 0) {
      const [plan] = await knex('daily_plans')
        .insert({ user_id: user.id, plan_date: user.today })
        .onConflict(['user_id', 'plan_date'])
        .merge()
        .returning('id');
      await knex('daily_plan_tasks').insert(unfinished.map((task) => ({ plan_id: plan.id, task_id: task.id })));
    }
    await knex('users').where({ id: user.id }).update({ last_rollover_date: user.day });
  }
}

export const rolloverBench: Benchmark = {
  name: 'rollover',
  describe: ({ rows }) =>
    `rollover: ${rows.toLocaleString('en')} users over ${ZONES} zones, each closing local yesterday (plan of 10 tasks, routine of 5; ROLLOVER_CARRY_OVER=true)`,
  async run(server: BenchServer, { rows }) {
    const copy = await server.seeded((knex) => seedRollover(knex, rows));

    const job = await copy();
    await job.knex.destroy();
    const cli = await timeCli(['rollover', '--now', NOW, '--json'], { DATABASE_URL: job.url, ...SETTINGS });
    const processed = JSON.parse(cli.stdout).processed as number;

    const floor = await copy();
    const floorRun = await time(() => floorRollover(floor.knex));
    await floor.knex.destroy();

    const naive = await copy();
    const naiveRows = Math.min(rows, NAIVE_SAMPLE);
    const naiveRun = await time(() => naiveRollover(naive.knex, naiveRows));
    await naive.knex.destroy();

    return [
      {
        variant: 'planner-jobs rollover (CLI)',
        items: processed,
        threads: 1,
        compared: cliCompared('rollover'),
        ...timing(cli),
        peakRssMb: cli.peakRssMb,
      },
      {
        variant:
          'floor: one transaction, one statement per table (scores, streaks, routine reset, carry-over, last_rollover_date)',
        items: floorRun.value,
        threads: 1,
        compared:
          "The job's whole change for every user in one transaction of five set-based statements (scores, streaks, routine reset, plan carry-over, last_rollover_date), from this process (1 thread).",
        ...timing(floorRun),
      },
      {
        variant: 'naive: per user, reads then one write per table',
        items: naiveRows,
        threads: 1,
        compared: 'Per user, read the plan, routine and streak, then one write per table, one user after another (1 thread).',
        ...timing(naiveRun),
        note: `first ${naiveRows.toLocaleString('en')} users only`,
      },
    ];
  },
};
