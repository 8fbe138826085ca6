import type { Knex } from 'knex';
import { describe, expect } from 'vitest';
import { rolloverReport } from '../src/demo/rollover.js';
import { DEMO_EMAIL_DOMAIN, seedDemo } from '../src/demo/seed.js';
import { cli } from './support/cli.js';
import { test } from './support/db.js';
import { at, createTask, createUser } from './support/factories.js';

type Env = Record<string, string>;

/** A daily plan for `day` holding `tasks` (completion instants, or null for unfinished). */
async function createPlan(knex: Knex, userId: string, day: string, completions: (string | null)[]) {
  const [plan] = await knex('daily_plans')
    .insert({ user_id: userId, plan_date: day })
    .onConflict(['user_id', 'plan_date'])
    .merge()
    .returning('id');
  const tasks = [];
  for (const completedAt of completions) {
    const task = await createTask(knex, {
      user_id: userId,
      completed: completedAt !== null,
      completed_at: completedAt && at(completedAt),
    });
    await knex('daily_plan_tasks').insert({ plan_id: plan.id, task_id: task.id });
    tasks.push(task);
  }
  return { planId: plan.id as string, tasks };
}

/** A plan for `day` with `done` of `total` tasks completed (in one statement, for big plans). */
async function createScoredPlan(knex: Knex, userId: string, day: string, done: number, total: number, completedAt: string) {
  await knex.raw(
    `WITH plan AS (INSERT INTO daily_plans (user_id, plan_date) VALUES (:userId, :day) RETURNING id),
          made AS (
            INSERT INTO tasks (user_id, title, completed, completed_at)
            SELECT :userId, 'Task ' || i, i <= :done, CASE WHEN i <= :done THEN :completedAt::timestamptz END
              FROM generate_series(1, :total) i
            RETURNING id)
     INSERT INTO daily_plan_tasks (plan_id, task_id) SELECT plan.id, made.id FROM plan, made`,
    { userId, day, done, total, completedAt },
  );
}

async function createRoutine(knex: Knex, userId: string, completions: (string | null)[], active = true) {
  const [routine] = await knex('daily_routines').insert({ user_id: userId, title: 'Morning', active }).returning('id');
  return knex('routine_tasks')
    .insert(
      completions.map((completedAt, position) => ({
        routine_id: routine.id,
        user_id: userId,
        title: `Step ${position}`,
        position,
        completed: completedAt !== null,
        completed_at: completedAt && at(completedAt),
      })),
    )
    .returning('*');
}

const history = async (knex: Knex, userId: string) =>
  (
    await knex.raw(
      `SELECT date::text, score::text, completed_count, total_count FROM performance_history WHERE user_id = ? ORDER BY date`,
      [userId],
    )
  ).rows as { date: string; score: string | null; completed_count: number; total_count: number }[];

const lastRollover = async (knex: Knex, userId: string) =>
  (await knex.raw('SELECT last_rollover_date::text AS d FROM users WHERE id = ?', [userId])).rows[0].d as string | null;

const streak = async (knex: Knex, userId: string) =>
  (await knex.raw('SELECT current, longest, last_activity_date::text FROM streaks WHERE user_id = ?', [userId])).rows[0] as
    { current: number; longest: number; last_activity_date: string | null } | undefined;

const rollover = (db: { url: string }, now: string, env: Env = {}, args: string[] = []) =>
  cli(['rollover', '--now', now, '--json', ...args], { DATABASE_URL: db.url, ...env });

describe('rollover: a user is due once their local midnight has passed', () => {
  test('Asia/Kathmandu (+05:45): nothing at 2025-03-08T18:14Z, closes 03-08 at 18:15Z, a rerun closes nothing', async ({
    db,
  }) => {
    const user = await createUser(db.knex, { timezone: 'Asia/Kathmandu', last_rollover_date: '2025-03-07' });
    await createPlan(db.knex, user.id, '2025-03-08', ['2025-03-08T10:00:00Z', null]);

    for (const instant of ['2025-03-08T18:14:00Z', '2025-03-08T18:14:59.999Z']) {
      const before = await rollover(db, instant);
      expect(before.code).toBe(0);
      expect(before.json()).toMatchObject({ status: 'succeeded', processed: 0 });
    }
    expect(await history(db.knex, user.id)).toEqual([]);

    const after = await rollover(db, '2025-03-08T18:15:00Z');
    expect(after.json()).toMatchObject({
      processed: 1,
      counts: { rolled_over: 1, days_closed: 1 },
      ids: { rolled_over: [user.id] },
    });
    expect(await history(db.knex, user.id)).toEqual([{ date: '2025-03-08', score: '50.00', completed_count: 1, total_count: 2 }]);
    expect(await lastRollover(db.knex, user.id)).toBe('2025-03-08');

    const rerun = await rollover(db, '2025-03-08T18:15:00Z');
    expect(rerun.json()).toMatchObject({ status: 'succeeded', processed: 0 });
    expect(await history(db.knex, user.id)).toHaveLength(1);
  });

  test('Pacific/Chatham (+13:45): 03-08 closes at 2025-03-08T10:15Z, not a millisecond before', async ({ db }) => {
    const user = await createUser(db.knex, { timezone: 'Pacific/Chatham', last_rollover_date: '2025-03-07' });
    expect((await rollover(db, '2025-03-08T10:14:59.999Z')).json()).toMatchObject({ processed: 0 });
    expect((await rollover(db, '2025-03-08T10:15:00Z')).json()).toMatchObject({ processed: 1 });
    expect(await lastRollover(db.knex, user.id)).toBe('2025-03-08');
  });

  test('a user with no last_rollover_date starts at local yesterday: no history invented', async ({ db }) => {
    const user = await createUser(db.knex); // as the API writes it: UTC, never rolled over
    await createPlan(db.knex, user.id, '2025-03-01', ['2025-03-01T10:00:00Z']);
    await createPlan(db.knex, user.id, '2025-03-07', ['2025-03-07T10:00:00Z']);

    const run = await rollover(db, '2025-03-08T00:00:00Z');

    expect(run.json()).toMatchObject({ processed: 1, counts: { days_closed: 1 } });
    expect(await history(db.knex, user.id)).toEqual([
      { date: '2025-03-07', score: '100.00', completed_count: 1, total_count: 1 },
    ]);
    expect(await streak(db.knex, user.id)).toEqual({ current: 1, longest: 1, last_activity_date: '2025-03-07' });
  });
});

describe('rollover: missed days are closed in order, each exactly once', () => {
  test('America/New_York last closed 03-01, run at 2025-03-08T05:30Z: closes 03-02..03-07, a rerun nothing', async ({ db }) => {
    const user = await createUser(db.knex, { timezone: 'America/New_York', last_rollover_date: '2025-03-01' });
    // 03-03 fails, so only the walk in date order ends with a streak of 4 (03-04..03-07) and longest 4.
    for (const day of ['2025-03-02', '2025-03-04', '2025-03-05', '2025-03-06', '2025-03-07']) {
      await createPlan(db.knex, user.id, day, [`${day}T15:00:00Z`]);
    }
    await createPlan(db.knex, user.id, '2025-03-03', [null]);

    const run = await rollover(db, '2025-03-08T05:30:00Z');
    expect(run.json()).toMatchObject({ processed: 1, counts: { days_closed: 6, days_scored: 6 } });
    expect((await history(db.knex, user.id)).map((row) => [row.date, row.score])).toEqual([
      ['2025-03-02', '100.00'],
      ['2025-03-03', '0.00'],
      ['2025-03-04', '100.00'],
      ['2025-03-05', '100.00'],
      ['2025-03-06', '100.00'],
      ['2025-03-07', '100.00'],
    ]);
    expect(await streak(db.knex, user.id)).toEqual({ current: 4, longest: 4, last_activity_date: '2025-03-07' });
    expect(await lastRollover(db.knex, user.id)).toBe('2025-03-07');

    const rerun = await rollover(db, '2025-03-08T05:30:00Z');
    expect(rerun.json()).toMatchObject({ processed: 0 });
    expect(await history(db.knex, user.id)).toHaveLength(6);
    expect(await streak(db.knex, user.id)).toMatchObject({ current: 4 });
  });

  test('catch-up is capped by ROLLOVER_MAX_CATCHUP_DAYS: it jumps ahead and logs a warning', async ({ db }) => {
    const user = await createUser(db.knex, { timezone: 'UTC', last_rollover_date: '2025-02-01' });

    const run = await rollover(db, '2025-03-08T00:00:00Z', { ROLLOVER_MAX_CATCHUP_DAYS: '3' });

    expect(run.json()).toMatchObject({ processed: 1, counts: { days_closed: 3, catchup_days_skipped: 31 } });
    expect((await history(db.knex, user.id)).map((row) => row.date)).toEqual(['2025-03-05', '2025-03-06', '2025-03-07']);
    expect(await lastRollover(db.knex, user.id)).toBe('2025-03-07');
    const warning = run.logs().find((line) => line.userId === user.id && line.level === 40);
    expect(warning).toMatchObject({ skippedDays: 31, from: '2025-02-02', to: '2025-03-04' });
  });

  test('routine flags count toward the most recent day only, and our downtime never breaks a streak', async ({ db }) => {
    const user = await createUser(db.knex, { timezone: 'UTC', last_rollover_date: '2025-03-04' });
    await db.knex('streaks').insert({ user_id: user.id, current: 7, longest: 9, last_activity_date: '2025-03-04' });
    // 03-05 and 03-06: nothing planned (the job was down, the routine's flags are today's state).
    await createPlan(db.knex, user.id, '2025-03-07', ['2025-03-07T09:00:00Z']);
    await createRoutine(db.knex, user.id, ['2025-03-07T07:00:00Z', '2025-03-07T07:10:00Z', '2025-03-07T07:20:00Z', null]);
    await createRoutine(db.knex, user.id, [null, null, null], false); // inactive: not counted

    const run = await rollover(db, '2025-03-08T00:00:00Z');

    expect(run.json()).toMatchObject({ counts: { days_closed: 3, days_scored: 1 } });
    expect(await history(db.knex, user.id)).toEqual([
      { date: '2025-03-05', score: null, completed_count: 0, total_count: 0 },
      { date: '2025-03-06', score: null, completed_count: 0, total_count: 0 },
      { date: '2025-03-07', score: '80.00', completed_count: 4, total_count: 5 },
    ]);
    expect(await streak(db.knex, user.id)).toEqual({ current: 8, longest: 9, last_activity_date: '2025-03-07' });
  });
});

describe('rollover: scores and the streak walk', () => {
  // 4/5 = 80, 3/4 = 75 (at the threshold), 2999/4000 = 74.975 (below it, though it rounds to 74.98), 0/0, 1/1.
  const DAYS: [string, number, number, string | null][] = [
    ['2025-03-02', 4, 5, '80.00'],
    ['2025-03-03', 3, 4, '75.00'],
    ['2025-03-04', 2999, 4000, '74.98'],
    ['2025-03-05', 0, 0, null],
    ['2025-03-06', 1, 1, '100.00'],
  ];
  const EXPECTED = [
    { current: 1, longest: 1, last_activity_date: '2025-03-02' },
    { current: 2, longest: 2, last_activity_date: '2025-03-03' },
    { current: 0, longest: 2, last_activity_date: '2025-03-03' },
    { current: 0, longest: 2, last_activity_date: '2025-03-03' },
    { current: 1, longest: 2, last_activity_date: '2025-03-06' },
  ];

  const seedDays = async (knex: Knex) => {
    const user = await createUser(knex, { timezone: 'UTC', last_rollover_date: '2025-03-01' });
    for (const [day, done, total] of DAYS)
      if (total > 0) await createScoredPlan(knex, user.id, day, done, total, `${day}T12:00:00Z`);
    return user;
  };

  test('one day per run: streaks 1, 2, 0, 0, 1 with longest 2', async ({ db }) => {
    const user = await seedDays(db.knex);
    for (const [index, [day]] of DAYS.entries()) {
      const next = new Date(at(`${day}T00:00:00Z`).getTime() + 86_400_000).toISOString();
      expect((await rollover(db, next)).json()).toMatchObject({ processed: 1, counts: { days_closed: 1 } });
      expect(await streak(db.knex, user.id)).toEqual(EXPECTED[index]);
    }
    expect((await history(db.knex, user.id)).map((row) => row.score)).toEqual(DAYS.map(([, , , score]) => score));
  });

  test('the same five days closed in one catch-up run end the same way', async ({ db }) => {
    const user = await seedDays(db.knex);
    await rollover(db, '2025-03-07T00:00:00Z');
    expect(await streak(db.knex, user.id)).toEqual(EXPECTED[4]);
    expect((await history(db.knex, user.id)).map((row) => row.score)).toEqual(DAYS.map(([, , , score]) => score));
  });

  test('STREAK_THRESHOLD moves the bar: at 80, 3/4 breaks the streak', async ({ db }) => {
    const user = await seedDays(db.knex);
    await rollover(db, '2025-03-04T00:00:00Z', { STREAK_THRESHOLD: '80' });
    expect(await streak(db.knex, user.id)).toEqual({ current: 0, longest: 1, last_activity_date: '2025-03-02' });
  });
});

describe('rollover: days whose midnight is missing, doubled or whose whole date never existed', () => {
  test("America/Havana's 25-hour 2025-11-02 counts completions at 04:30Z and 05:30Z, and 11-01 does not", async ({ db }) => {
    const user = await createUser(db.knex, { timezone: 'America/Havana', last_rollover_date: '2025-10-31' });
    // 11-01 ends at 04:00Z (00:00 CDT); 11-02 runs 25 hours, to 05:00Z on 11-03 (00:00 CST).
    const nov1 = await createPlan(db.knex, user.id, '2025-11-01', ['2025-11-02T03:59:59Z', '2025-11-02T04:30:00Z']);
    const nov2 = await createPlan(db.knex, user.id, '2025-11-02', [
      '2025-11-02T05:30:00Z',
      '2025-11-03T04:59:59Z',
      '2025-11-03T05:00:00Z',
    ]);
    await db.knex('daily_plan_tasks').insert({ plan_id: nov2.planId, task_id: nov1.tasks[1].id }); // the 04:30Z one

    expect((await rollover(db, '2025-11-03T04:59:59Z')).json()).toMatchObject({ counts: { days_closed: 1 } });
    expect((await rollover(db, '2025-11-03T05:00:00Z')).json()).toMatchObject({ counts: { days_closed: 1 } });

    expect(await history(db.knex, user.id)).toEqual([
      { date: '2025-11-01', score: '50.00', completed_count: 1, total_count: 2 },
      { date: '2025-11-02', score: '75.00', completed_count: 3, total_count: 4 },
    ]);
  });

  test('America/Santiago 2024-09-07 ends at 04:00Z on 09-08 (no midnight on 09-08)', async ({ db }) => {
    const user = await createUser(db.knex, { timezone: 'America/Santiago', last_rollover_date: '2024-09-06' });
    await createPlan(db.knex, user.id, '2024-09-07', ['2024-09-08T03:59:59Z', '2024-09-08T04:00:00Z']);

    expect((await rollover(db, '2024-09-08T03:59:59Z')).json()).toMatchObject({ processed: 0 });
    expect((await rollover(db, '2024-09-08T04:00:00Z')).json()).toMatchObject({ processed: 1 });
    expect(await history(db.knex, user.id)).toEqual([{ date: '2024-09-07', score: '50.00', completed_count: 1, total_count: 2 }]);
  });

  test('Pacific/Apia skipped 2011-12-30: no row for it, and it leaves the streak alone', async ({ db }) => {
    const user = await createUser(db.knex, { timezone: 'Pacific/Apia', last_rollover_date: '2011-12-28' });
    await createPlan(db.knex, user.id, '2011-12-29', ['2011-12-29T20:00:00Z']);
    await createPlan(db.knex, user.id, '2011-12-30', [null]);
    await createPlan(db.knex, user.id, '2011-12-31', ['2011-12-31T00:00:00Z']);

    // 2011-12-31T10:00Z is 2012-01-01 00:00 in Apia (+14).
    const run = await rollover(db, '2011-12-31T10:00:00Z');

    expect(run.json()).toMatchObject({ processed: 1, counts: { days_closed: 2 } });
    expect((await history(db.knex, user.id)).map((row) => row.date)).toEqual(['2011-12-29', '2011-12-31']);
    expect(await streak(db.knex, user.id)).toEqual({ current: 2, longest: 2, last_activity_date: '2011-12-31' });
    expect(await lastRollover(db.knex, user.id)).toBe('2011-12-31');
  });
});

describe('rollover: the new day starts clean', () => {
  test('routine tasks done by the end of the day are reset; one done on the new day keeps its flag', async ({ db }) => {
    const user = await createUser(db.knex, { timezone: 'Europe/Berlin', last_rollover_date: '2025-03-06' });
    const tasks = await createRoutine(db.knex, user.id, ['2025-03-07T06:00:00Z', null, '2025-03-07T23:05:00Z']); // 00:05 on 03-08 in Berlin

    const run = await rollover(db, '2025-03-07T23:10:00Z');

    expect(run.json()).toMatchObject({ counts: { routine_tasks_reset: 1 } });
    expect(await history(db.knex, user.id)).toEqual([{ date: '2025-03-07', score: '33.33', completed_count: 1, total_count: 3 }]);
    const after = await db
      .knex('routine_tasks')
      .whereIn(
        'id',
        tasks.map((t) => t.id),
      )
      .orderBy('position');
    expect(after.map((t) => [t.completed, t.completed_at])).toEqual([
      [false, null],
      [false, null],
      [true, at('2025-03-07T23:05:00Z')],
    ]);
  });

  test('ROLLOVER_CARRY_OVER=true adds the unfinished plan tasks to the new day, once', async ({ db }) => {
    const user = await createUser(db.knex, { timezone: 'UTC', last_rollover_date: '2025-03-06' });
    const { tasks } = await createPlan(db.knex, user.id, '2025-03-07', ['2025-03-07T10:00:00Z', null, null]);
    const { planId: todayPlan } = await createPlan(db.knex, user.id, '2025-03-08', []); // made by the API already
    await db.knex('daily_plan_tasks').insert({ plan_id: todayPlan, task_id: tasks[1].id });

    const run = await rollover(db, '2025-03-08T01:00:00Z', { ROLLOVER_CARRY_OVER: 'true' });

    expect(run.json()).toMatchObject({ counts: { tasks_carried_over: 1 } });
    const today = await db.knex('daily_plan_tasks').where({ plan_id: todayPlan }).pluck('task_id');
    expect(today.sort()).toEqual([tasks[1].id, tasks[2].id].sort());
  });

  test('without ROLLOVER_CARRY_OVER nothing moves', async ({ db }) => {
    const user = await createUser(db.knex, { timezone: 'UTC', last_rollover_date: '2025-03-06' });
    await createPlan(db.knex, user.id, '2025-03-07', [null]);
    await rollover(db, '2025-03-08T01:00:00Z');
    expect(await db.knex('daily_plans').where({ user_id: user.id, plan_date: '2025-03-08' })).toHaveLength(0);
  });
});

describe('rollover: zones, bad input and reruns', () => {
  test('a user whose stored zone is unknown is skipped, logged and counted failed (exit 1); others still close', async ({
    db,
  }) => {
    const lost = await createUser(db.knex, { timezone: 'Mars/Olympus', last_rollover_date: '2025-03-01' });
    const fine = await createUser(db.knex, { timezone: 'UTC', last_rollover_date: '2025-03-06' });

    const run = await rollover(db, '2025-03-08T01:00:00Z');

    expect(run.code).toBe(1);
    expect(run.json()).toMatchObject({ status: 'failed', processed: 1, failed: 1, ids: { rolled_over: [fine.id] } });
    expect(run.logs().some((line) => line.id === lost.id && String(line.reason).includes('Mars/Olympus'))).toBe(true);
    expect(await lastRollover(db.knex, lost.id)).toBe('2025-03-01');
  });

  test('--tz restricts the run to one zone; an unknown zone is bad usage (exit 64)', async ({ db }) => {
    const tokyo = await createUser(db.knex, { timezone: 'Asia/Tokyo', last_rollover_date: '2025-03-01' });
    const paris = await createUser(db.knex, { timezone: 'Europe/Paris', last_rollover_date: '2025-03-01' });

    const run = await rollover(db, '2025-03-08T12:00:00Z', {}, ['--tz', 'Asia/Tokyo']);
    expect(run.json()).toMatchObject({ processed: 1, ids: { rolled_over: [tokyo.id] } });
    expect(await lastRollover(db.knex, paris.id)).toBe('2025-03-01');

    const bad = await rollover(db, '2025-03-08T12:00:00Z', {}, ['--tz', 'Mars/Olympus']);
    expect(bad.code).toBe(64);
    expect(bad.stderr).toContain('--tz');
  });

  test('a user who moves to a zone behind never has a day closed twice', async ({ db }) => {
    const user = await createUser(db.knex, { timezone: 'Pacific/Auckland', last_rollover_date: '2025-03-06' });
    await rollover(db, '2025-03-07T12:00:00Z'); // 03-08 01:00 in Auckland: closes 03-07
    await db.knex('users').where({ id: user.id }).update({ timezone: 'America/Los_Angeles' });

    // Still 03-07 (and then 03-08) in Los Angeles: nothing to close until 03-08 has passed there.
    expect((await rollover(db, '2025-03-07T13:00:00Z')).json()).toMatchObject({ processed: 0 });
    expect((await rollover(db, '2025-03-08T12:00:00Z')).json()).toMatchObject({ processed: 0 });
    expect((await rollover(db, '2025-03-09T09:00:00Z')).json()).toMatchObject({ processed: 1, counts: { days_closed: 1 } });
    expect((await history(db.knex, user.id)).map((row) => row.date)).toEqual(['2025-03-07', '2025-03-08']);
  });

  test('--dry-run reports what it would close and writes nothing', async ({ db }) => {
    const user = await createUser(db.knex, { timezone: 'UTC', last_rollover_date: '2025-03-06' });
    await createRoutine(db.knex, user.id, ['2025-03-07T06:00:00Z']);

    const run = await rollover(db, '2025-03-08T01:00:00Z', {}, ['--dry-run']);

    expect(run.json()).toMatchObject({ dry_run: true, processed: 1, counts: { days_closed: 1, routine_tasks_reset: 1 } });
    expect(await history(db.knex, user.id)).toEqual([]);
    expect(await lastRollover(db.knex, user.id)).toBe('2025-03-06');
    expect(await streak(db.knex, user.id)).toBeUndefined();
    expect(await db.knex('routine_tasks').where({ user_id: user.id }).first()).toMatchObject({ completed: true });
  });
});

describe('rollover: concurrent runs share the work', () => {
  test('two runs over 10,000 users close each user-day exactly once', async ({ db }) => {
    await db.knex.raw(
      `INSERT INTO users (email, timezone, last_rollover_date)
       SELECT 'many-' || i || '@example.test', (ARRAY['UTC', 'Asia/Kathmandu', 'America/New_York', 'Pacific/Chatham'])[1 + i % 4], '2025-03-05'
         FROM generate_series(1, 10000) i`,
    );
    await db.knex.raw(
      `WITH plans AS (INSERT INTO daily_plans (user_id, plan_date) SELECT id, '2025-03-06' FROM users RETURNING id, user_id),
            made AS (INSERT INTO tasks (user_id, title, completed, completed_at)
                     SELECT user_id, 'Done', true, '2025-03-06T09:00:00Z' FROM plans RETURNING id, user_id)
       INSERT INTO daily_plan_tasks (plan_id, task_id) SELECT plans.id, made.id FROM plans JOIN made USING (user_id)`,
    );
    // At 06:00Z on 03-08 it is 03-08 in all four zones (19:45 in Chatham, 01:00 in New York): two days per user.
    const runs = await Promise.all([0, 1].map(() => rollover(db, '2025-03-08T06:00:00Z', {}, ['--batch-size', '250'])));

    const summaries = runs.map((run) => run.json<{ processed: number; counts: Record<string, number> }>());
    expect(runs.map((run) => run.code)).toEqual([0, 0]);
    expect(summaries[0].processed + summaries[1].processed).toBe(10_000);
    expect(summaries[0].counts.days_closed + summaries[1].counts.days_closed).toBe(20_000);
    const [counts] = (
      await db.knex.raw(
        `SELECT (SELECT count(*)::int FROM performance_history) AS days,
                (SELECT count(*)::int FROM streaks WHERE current = 1 AND longest = 1 AND last_activity_date = '2025-03-06') AS streaks,
                (SELECT count(*)::int FROM users WHERE last_rollover_date = '2025-03-07') AS users`,
      )
    ).rows;
    expect(counts).toEqual({ days: 20_000, streaks: 10_000, users: 10_000 });
  });
});

describe('rollover: the demo', () => {
  test('closes local yesterday for the demo users and reports their scores and streaks', async ({ db }) => {
    const now = '2025-06-01T12:00:00Z';
    await seedDemo(db.knex, at(now));

    const run = await rollover(db, now);

    expect(run.json()).toMatchObject({ status: 'succeeded', processed: 5, counts: { days_closed: 5 } });
    const report = await rolloverReport(db.knex, DEMO_EMAIL_DOMAIN);
    expect(report).toHaveLength(5);
    // Ana's plan and routine for 05-31 in New York: 'Water the plants' and the three routine steps done, 3 plan tasks open.
    expect(report).toContain('  Ana (America/New_York): 2025-05-31 scored 57.14 (4/7), streak 0 (longest 5)');
  });
});
