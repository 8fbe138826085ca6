import type { Knex } from 'knex';
import { describe, expect, it } from 'vitest';
import { floorRollover, NOW, seedRollover, SETTINGS } from '../bench/rollover.js';
import type { Measurement } from '../bench/support/benchmark.js';
import { medianOf, withRatios } from '../bench/support/table.js';
import { cli } from './support/cli.js';
import { createTestDatabase, test } from './support/db.js';

/** A measurement with only what the ratios read. */
const row = (variant: string, seconds: number, fields: Partial<Measurement> = {}): Measurement => ({
  variant,
  items: 100,
  seconds,
  threads: 1,
  compared: variant,
  ...fields,
});

describe('each row is compared with its own floor', () => {
  it('uses the floor a row names, else the first floor row', () => {
    const rows = withRatios([
      row('job csv', 6, { floorVariant: 'floor: csv' }),
      row('floor: csv', 3, { floorVariant: 'floor: csv' }),
      row('job json', 4, { floorVariant: 'floor: json' }),
      row('floor: json', 2, { floorVariant: 'floor: json' }),
      row('other', 9),
    ]);
    expect(rows.map((r) => r.timesFloor)).toEqual([2, 1, 2, 1, 3]);
  });
});

describe('with --repeat, ratios are the median of each run’s own ratio', () => {
  it('takes the median of per-run ratios, not the ratio of separately chosen medians', () => {
    // Run by run the job is 2×, 2× and 4× its floor; the median times (job 8 s, floor 2 s) would say 4×.
    const runs = [
      [row('job', 4), row('floor: x', 2)],
      [row('job', 8), row('floor: x', 4)],
      [row('job', 12), row('floor: x', 1)],
    ];
    const [job, floor] = medianOf(runs);
    expect(job.timesFloor).toBe(2);
    expect(job.seconds).toBe(8);
    expect(floor.timesFloor).toBe(1);
    expect(job.note).toContain('median of 3');
  });
});

describe('with --repeat, a figure a target is set for is the median of each run’s', () => {
  it('takes each figure’s median over the runs, whichever run has the median time', () => {
    const runs = [
      [row('job', 4, { figures: { 'CPU × encryption': 1.4 } })],
      [row('job', 8, { figures: { 'CPU × encryption': 2.0 } })],
      [row('job', 12, { figures: { 'CPU × encryption': 1.6 } })],
    ];
    const [job] = medianOf(runs);
    expect(job.figures).toEqual({ 'CPU × encryption': 1.6 });
    expect(job.seconds).toBe(8);
  });
});

/** Everything rollover changes, keyed by email (ids differ between two seeded databases). */
async function rolloverState(knex: Knex) {
  const { rows } = await knex.raw(
    `SELECT u.email, u.last_rollover_date::text AS last_day,
            (SELECT json_agg(json_build_object('date', ph.date, 'score', ph.score, 'done', ph.completed_count, 'total', ph.total_count) ORDER BY ph.date)
               FROM performance_history ph WHERE ph.user_id = u.id) AS history,
            (SELECT json_build_object('current', s.current, 'longest', s.longest, 'last', s.last_activity_date)
               FROM streaks s WHERE s.user_id = u.id) AS streak,
            (SELECT count(*)::int FROM routine_tasks rt WHERE rt.user_id = u.id AND rt.completed) AS routine_done,
            (SELECT json_agg(json_build_object('day', p.plan_date, 'tasks', (SELECT count(*) FROM daily_plan_tasks pt WHERE pt.plan_id = p.id)) ORDER BY p.plan_date)
               FROM daily_plans p WHERE p.user_id = u.id) AS plans
       FROM users u ORDER BY u.email`,
  );
  return rows as Record<string, unknown>[];
}

describe('the rollover floor makes the same change as the job', () => {
  test('scores, streaks, routine reset, carry-over and last_rollover_date match the CLI on identical seeds', async ({ db }) => {
    // Even-numbered users finish their whole plan (13 of 15: streak kept), the others 7 of 10 (10 of 15: broken).
    const planDone = `CASE WHEN u.email ~ '^bench-[0-9]*[02468]@' THEN 10 ELSE 7 END`;
    const floorDb = await createTestDatabase();
    try {
      await seedRollover(db.knex, 40, planDone);
      await seedRollover(floorDb.knex, 40, planDone);
      const run = await cli(['rollover', '--now', NOW, '--json'], { DATABASE_URL: db.url, ...SETTINGS });
      expect(run.code).toBe(0);
      expect(await floorRollover(floorDb.knex)).toBe(40);

      const [job, floor] = [await rolloverState(db.knex), await rolloverState(floorDb.knex)];
      expect(floor).toEqual(job);
      // The seed makes every part change something.
      expect(new Set(job.map((user) => (user.streak as { current: number }).current))).toEqual(new Set([0, 1]));
      expect(job.every((user) => user.routine_done === 0)).toBe(true);
      expect(job.some((user) => (user.plans as unknown[]).length === 2)).toBe(true);
    } finally {
      await floorDb.drop();
    }
  });
});
