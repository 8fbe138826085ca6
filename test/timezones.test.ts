import type { Knex } from 'knex';
import { describe, expect, test as plain } from 'vitest';
import { canonicalZone, resolveZoneNames } from '../src/core/timezones.js';
import { cli } from './support/cli.js';
import { test, type TestDatabase } from './support/db.js';
import { at, createTask, createUser } from './support/factories.js';

const run = (db: TestDatabase, job: string, now: string, ...args: string[]) =>
  cli([job, '--now', now, '--json', ...args], { DATABASE_URL: db.url });

/** A completed daily task of a new owner in `zone`, as the API writes it (no stored anchor). */
async function dailyTask(knex: Knex, zone: string, due: string) {
  const owner = await createUser(knex, { timezone: zone });
  return createTask(knex, {
    user_id: owner.id,
    is_recurring: true,
    recurrence_type: 'daily',
    recurrence_interval: 1,
    due_date: at(due),
    completed: true,
    completed_at: at(due),
  });
}

const nextDue = async (knex: Knex, id: string) =>
  ((await knex('tasks').where({ recurrence_parent_id: id }).first()) as { due_date: Date } | undefined)?.due_date.toISOString();

const lastRollover = async (knex: Knex, userId: string) =>
  (await knex.raw('SELECT last_rollover_date::text AS d FROM users WHERE id = ?', [userId])).rows[0].d as string | null;

/** Makes every new connection to the test's own database read abbreviations from `set`. */
const useAbbreviations = (db: TestDatabase, set: string) =>
  db.knex.raw(`ALTER DATABASE ${db.name} SET timezone_abbreviations = '${set}'`);

describe('zones: a stored name resolves to its canonical IANA zone, links followed, any case', () => {
  plain('CET, US/Eastern, Asia/Calcutta, america/new_york, UTC; an unknown name has none', () => {
    expect(canonicalZone('CET')).toBe('Europe/Brussels');
    expect(canonicalZone('US/Eastern')).toBe('America/New_York');
    expect(canonicalZone('Asia/Calcutta')).toBe('Asia/Kolkata');
    expect(canonicalZone('america/new_york')).toBe('America/New_York');
    expect(canonicalZone('UTC')).toBe('Etc/UTC');
    expect(canonicalZone('Mars/Olympus')).toBeUndefined();
  });

  plain('the server spelling is used; a name only the server knows maps to itself', () => {
    const resolution = resolveZoneNames(['Europe/Brussels', 'CET', 'Europe/Kiev', 'posix/Europe/Paris'], []);
    expect(resolution.zoneOf('cet')).toBe('Europe/Brussels');
    // A server older than tzdata 2022b knows only Europe/Kiev: Europe/Kyiv still resolves, to it.
    expect(resolution.zoneOf('Europe/Kyiv')).toBe('Europe/Kiev');
    expect(resolution.zoneOf('POSIX/Europe/Paris')).toBe('posix/Europe/Paris');
    // tzdata knows it, this server does not.
    expect(resolution.zoneOf('Asia/Tokyo')).toBeUndefined();
  });

  plain('no resolved name is one the session would read as an abbreviation (first 10 characters, any case)', () => {
    // A custom timezone_abbreviations file could define anything; a shipped one cannot be made to.
    const resolution = resolveZoneNames(['EST5EDT', 'Europe/Brussels', 'CET', 'Factory'], ['EST5EDT', 'EUROPE/BRU']);
    expect(resolution.zoneOf('EST5EDT')).toBeUndefined();
    expect(resolution.zoneOf('CET')).toBe('CET'); // its canonical zone is captured; its own name is not
    expect(resolution.zoneOf('Factory')).toBe('Factory');
    expect(resolution.captured).toEqual(['EST5EDT']);
  });
});

describe('zones: CET means Central European Time with DST, never the fixed +01 abbreviation (issue #15)', () => {
  test('recurring: CET daily 09:00 due 2025-03-29T08:00Z → 2025-03-30T07:00Z, as Europe/Paris', async ({ db }) => {
    const cet = await dailyTask(db.knex, 'CET', '2025-03-29T08:00:00Z');
    const paris = await dailyTask(db.knex, 'Europe/Paris', '2025-03-29T08:00:00Z');
    const lower = await dailyTask(db.knex, 'cet', '2025-03-29T08:00:00Z');

    const result = await run(db, 'recurring', '2025-03-29T09:00:00Z');

    expect(result.code, result.stderr).toBe(0);
    for (const task of [cet, paris, lower]) expect(await nextDue(db.knex, task.id)).toBe('2025-03-30T07:00:00.000Z');
  });

  test('rollover: a CET user closes 06-15 at local midnight (22:00Z); a task done at 22:30Z counts for 06-16', async ({ db }) => {
    const user = await createUser(db.knex, { timezone: 'CET', last_rollover_date: '2025-06-14' });
    const [plan] = await db.knex('daily_plans').insert({ user_id: user.id, plan_date: '2025-06-15' }).returning('id');
    const task = await createTask(db.knex, { user_id: user.id, completed: true, completed_at: at('2025-06-15T22:30:00Z') });
    await db.knex('daily_plan_tasks').insert({ plan_id: plan.id, task_id: task.id });

    expect((await run(db, 'rollover', '2025-06-15T21:59:59.999Z')).json()).toMatchObject({ processed: 0 });
    expect((await run(db, 'rollover', '2025-06-15T22:00:00Z')).json()).toMatchObject({ processed: 1 });
    expect(await lastRollover(db.knex, user.id)).toBe('2025-06-15');
    const [day] = (await db.knex.raw(`SELECT score::text FROM performance_history WHERE user_id = ?`, [user.id])).rows;
    expect(day.score).toBe('0.00');
  });

  test('reminders: the due time of a CET user is in summer time, named by its IANA zone', async ({ db }) => {
    const user = await createUser(db.knex, { timezone: 'CET' });
    const task = await createTask(db.knex, { user_id: user.id, due_date: at('2025-07-01T12:00:00Z') });
    const [reminder] = await db
      .knex('reminders')
      .insert({ user_id: user.id, task_id: task.id, remind_at: at('2025-07-01T11:00:00Z') })
      .returning('id');

    expect((await run(db, 'reminders', '2025-07-01T11:00:00Z')).code).toBe(0);

    const notification = await db
      .knex('notifications')
      .where({ dedupe_key: `reminder:${reminder.id}` })
      .first();
    expect(notification.body).toBe('Due Tue 01 Jul 2025, 14:00 (Europe/Brussels)');
  });
});

describe('zones: timezone_abbreviations cannot change what a zone name means', () => {
  test('under Australia, EST stays America/Panama (-05), not the Australian +10: recurring and rollover', async ({ db }) => {
    await useAbbreviations(db, 'Australia');
    // A series anchored at 09:00 wall-clock: +10 would put the next one at 23:00Z the day before.
    const est = await dailyTask(db.knex, 'EST', '2025-06-01T14:00:00Z');
    await db.knex('tasks').where({ id: est.id }).update({ recurrence_anchor: '2025-06-01 09:00' });
    await db.knex('users').where({ id: est.user_id }).update({ last_rollover_date: '2025-06-01' });

    const recurring = await run(db, 'recurring', '2025-06-01T15:00:00Z');
    expect(recurring.code, recurring.stderr).toBe(0);
    expect(await nextDue(db.knex, est.id)).toBe('2025-06-02T14:00:00.000Z');

    // 2025-06-02T15:00Z is 10:00 on 06-02 in Panama (01:00 on 06-03 at +10): nothing to close yet.
    expect((await run(db, 'rollover', '2025-06-02T15:00:00Z')).json()).toMatchObject({ processed: 0, failed: 0 });
    expect(await lastRollover(db.knex, est.user_id)).toBe('2025-06-01');
  });
});

describe('zones: rollover --tz selects every spelling and link of one zone (issue #12)', () => {
  test('america/new_york and US/Eastern select users stored America/New_York; Asia/Kolkata selects Asia/Calcutta', async ({
    db,
  }) => {
    const newYork = await createUser(db.knex, { timezone: 'America/New_York', last_rollover_date: '2025-03-01' });
    const calcutta = await createUser(db.knex, { timezone: 'Asia/Calcutta', last_rollover_date: '2025-03-01' });
    const paris = await createUser(db.knex, { timezone: 'Europe/Paris', last_rollover_date: '2025-03-01' });

    const lower = await run(db, 'rollover', '2025-03-08T12:00:00Z', '--tz', 'america/new_york');
    expect(lower.json()).toMatchObject({ status: 'succeeded', processed: 1, ids: { rolled_over: [newYork.id] } });

    await db.knex('users').where({ id: newYork.id }).update({ last_rollover_date: '2025-03-01' });
    const link = await run(db, 'rollover', '2025-03-08T12:00:00Z', '--tz', 'US/Eastern');
    expect(link.json()).toMatchObject({ processed: 1, ids: { rolled_over: [newYork.id] } });

    const kolkata = await run(db, 'rollover', '2025-03-08T12:00:00Z', '--tz', 'Asia/Kolkata');
    expect(kolkata.json()).toMatchObject({ processed: 1, ids: { rolled_over: [calcutta.id] } });
    expect(await lastRollover(db.knex, paris.id)).toBe('2025-03-01');
  });

  test('a --tz that names no IANA zone is bad usage (64) before anything runs', async ({ db }) => {
    const bad = await run(db, 'rollover', '2025-03-08T12:00:00Z', '--tz', 'Mars/Olympus');
    expect(bad.code).toBe(64);
    expect(bad.stderr).toContain('--tz');
    expect(await db.knex('job_runs').count({ n: '*' }).first()).toEqual({ n: '0' });
  });
});
