import type { Knex } from 'knex';
import { describe, expect } from 'vitest';
import { cli, spawnCli } from './support/cli.js';
import { test, type TestDatabase } from './support/db.js';
import { seedRecurringDemo } from '../src/demo/recurring.js';
import { at, createTask, createUser, getTask, type Task } from './support/factories.js';

type Kind = 'daily' | 'weekly' | 'monthly' | 'yearly';

/** A completed recurring task of a new owner in `zone`, as the API writes it (no stored anchor). */
async function recurringTask(
  knex: Knex,
  {
    zone = 'UTC',
    kind = 'daily',
    every = 1,
    due,
    completedAt = due,
    ...fields
  }: {
    zone?: string;
    kind?: Kind;
    every?: number;
    due: string;
    completedAt?: string | null;
    [column: string]: unknown;
  },
): Promise<Task> {
  const owner = await createUser(knex, { timezone: zone });
  return createTask(knex, {
    user_id: owner.id,
    is_recurring: true,
    recurrence_type: kind,
    recurrence_interval: every,
    due_date: at(due),
    completed: true,
    completed_at: completedAt && at(completedAt),
    ...fields,
  });
}

const childOf = (knex: Knex, id: string): Promise<Task | undefined> => knex('tasks').where({ recurrence_parent_id: id }).first();

const runJob = (db: TestDatabase, now: string, ...args: string[]) =>
  cli(['recurring', '--now', now, '--json', ...args], { DATABASE_URL: db.url });

/**
 * Follows a series for `count` instances: each instance is completed exactly at its due date,
 * then the job runs at that instant. Returns the due dates of the instances it made, in UTC.
 */
async function followSeries(db: TestDatabase, first: Task, count: number): Promise<string[]> {
  const dues: string[] = [];
  let current = first;
  for (let i = 0; i < count; i += 1) {
    const due = current.due_date!.toISOString();
    await db.knex('tasks').where({ id: current.id }).update({ completed: true, completed_at: current.due_date });
    const run = await runJob(db, due);
    expect(run.code, run.stderr).toBe(0);
    const child = await childOf(db.knex, current.id);
    expect(child, `no next instance after ${due}`).toBeDefined();
    dues.push(child!.due_date!.toISOString());
    current = child!;
  }
  return dues;
}

describe('recurring: the new instance copies the task and the source is stamped, once', () => {
  test('copies user, title, description, priority, tags and recurrence; open, not completed, child of the source', async ({
    db,
  }) => {
    const source = await recurringTask(db.knex, {
      due: '2025-06-01T09:00:00Z',
      kind: 'weekly',
      every: 2,
      title: 'Water the plants',
      description: 'Both balconies',
      priority: 'high',
      tags: ['home', 'garden'],
    });
    const now = '2025-06-01T09:05:00.000Z';

    const run = await runJob(db, now);

    expect(run.code).toBe(0);
    expect(run.json()).toMatchObject({
      job: 'recurring',
      status: 'succeeded',
      processed: 1,
      failed: 0,
      counts: { instances_created: 1 },
    });
    expect(await childOf(db.knex, source.id)).toMatchObject({
      user_id: source.user_id,
      title: 'Water the plants',
      description: 'Both balconies',
      priority: 'high',
      tags: ['home', 'garden'],
      is_recurring: true,
      recurrence_type: 'weekly',
      recurrence_interval: 2,
      due_date: at('2025-06-15T09:00:00Z'),
      completed: false,
      completed_at: null,
      status: 'open',
      last_processed_at: null,
      created_at: at(now),
    });
    expect(await getTask(db.knex, source.id)).toMatchObject({ last_processed_at: at(now), completed: true });
  });

  test('only completed recurring tasks with a due date, not yet processed, are eligible', async ({ db }) => {
    const eligible = await recurringTask(db.knex, { due: '2025-06-01T09:00:00Z' });
    const open = await recurringTask(db.knex, { due: '2025-06-01T09:00:00Z', completed: false, completedAt: null });
    const noDue = await recurringTask(db.knex, { due: '2025-06-01T09:00:00Z', due_date: null });
    const once = await createTask(db.knex, {
      due_date: at('2025-06-01T09:00:00Z'),
      completed: true,
      completed_at: at('2025-06-01T09:00:00Z'),
    });
    const processed = await recurringTask(db.knex, {
      due: '2025-06-01T09:00:00Z',
      last_processed_at: at('2025-06-01T09:01:00Z'),
    });

    const run = await runJob(db, '2025-06-01T10:00:00Z');

    expect(run.json()).toMatchObject({ processed: 1, ids: { instances_created: [eligible.id] } });
    for (const task of [open, noDue, once, processed]) expect(await childOf(db.knex, task.id)).toBeUndefined();
    expect(await db.knex('tasks').count({ n: '*' })).toEqual([{ n: '6' }]);
  });

  test('a rerun creates nothing; a task that already has a child is stamped and counted, never given a second', async ({
    db,
  }) => {
    const source = await recurringTask(db.knex, { due: '2025-06-01T09:00:00Z' });
    await runJob(db, '2025-06-01T10:00:00Z');
    await db.knex('tasks').where({ id: source.id }).update({ last_processed_at: null });
    const rerun = await runJob(db, '2025-06-01T11:00:00Z');

    expect(rerun.code).toBe(0);
    expect(rerun.json()).toMatchObject({ processed: 0, left_alone: 1, counts: { already_had_next_instance: 1 } });
    expect(await db.knex('tasks').where({ recurrence_parent_id: source.id }).count({ n: '*' })).toEqual([{ n: '1' }]);
    expect((await getTask(db.knex, source.id)).last_processed_at).toEqual(at('2025-06-01T11:00:00Z'));
    expect((await runJob(db, '2025-06-01T12:00:00Z')).json()).toMatchObject({ processed: 0, left_alone: 0 });
  });
});

describe('recurring: dates come from the series anchor, so month ends and leap days never drift', () => {
  test('monthly from Jan 31 through a leap year: Feb 29, Mar 31, Apr 30, May 31; Feb 28 the year after', async ({ db }) => {
    const first = await recurringTask(db.knex, { kind: 'monthly', due: '2024-01-31T09:00:00Z' });
    expect(await followSeries(db, first, 5)).toEqual([
      '2024-02-29T09:00:00.000Z',
      '2024-03-31T09:00:00.000Z',
      '2024-04-30T09:00:00.000Z',
      '2024-05-31T09:00:00.000Z',
      '2024-06-30T09:00:00.000Z',
    ]);
    const lastYear = await recurringTask(db.knex, { kind: 'monthly', due: '2025-01-31T09:00:00Z' });
    expect(await followSeries(db, lastYear, 2)).toEqual(['2025-02-28T09:00:00.000Z', '2025-03-31T09:00:00.000Z']);
  });

  test('yearly from Feb 29: Feb 28 in common years, Feb 29 again in the next leap year', async ({ db }) => {
    const first = await recurringTask(db.knex, { kind: 'yearly', due: '2024-02-29T12:00:00Z' });
    expect(await followSeries(db, first, 4)).toEqual([
      '2025-02-28T12:00:00.000Z',
      '2026-02-28T12:00:00.000Z',
      '2027-02-28T12:00:00.000Z',
      '2028-02-29T12:00:00.000Z',
    ]);
  });

  test('the anchor travels with the series: each instance stores it, a stored anchor wins over the due date', async ({ db }) => {
    const first = await recurringTask(db.knex, { kind: 'monthly', zone: 'Europe/Berlin', due: '2025-01-31T08:00:00Z' });
    await followSeries(db, first, 1);
    expect((await childOf(db.knex, first.id))!.recurrence_anchor).toEqual(new Date(2025, 0, 31, 9, 0, 0));

    // An instance due Feb 28 of a series anchored on Jan 31 goes back to the 31st in March.
    const stored = await recurringTask(db.knex, {
      kind: 'monthly',
      due: '2025-02-28T09:00:00Z',
      recurrence_anchor: '2025-01-31 09:00',
    });
    expect(await followSeries(db, stored, 1)).toEqual(['2025-03-31T09:00:00.000Z']);
  });

  test('every N: every 3 days, every 2 weeks, every 3 months, every 2 years', async ({ db }) => {
    const cases: [Kind, number, string][] = [
      ['daily', 3, '2025-06-04T09:00:00.000Z'],
      ['weekly', 2, '2025-06-15T09:00:00.000Z'],
      ['monthly', 3, '2025-09-01T09:00:00.000Z'],
      ['yearly', 2, '2027-06-01T09:00:00.000Z'],
    ];
    for (const [kind, every, expected] of cases) {
      const task = await recurringTask(db.knex, { kind, every, due: '2025-06-01T09:00:00Z' });
      expect(await followSeries(db, task, 1), `${kind} every ${every}`).toEqual([expected]);
    }
  });
});

describe("recurring: wall-clock time in the owner's zone, across DST", () => {
  test('daily 09:00 America/New_York stays 09:00 local across 2025-03-09 and 2025-11-02 (its UTC hour moves)', async ({ db }) => {
    const spring = await recurringTask(db.knex, { zone: 'America/New_York', due: '2025-03-07T14:00:00Z' });
    expect(await followSeries(db, spring, 3)).toEqual([
      '2025-03-08T14:00:00.000Z',
      '2025-03-09T13:00:00.000Z',
      '2025-03-10T13:00:00.000Z',
    ]);
    const autumn = await recurringTask(db.knex, { zone: 'America/New_York', due: '2025-10-31T13:00:00Z' });
    expect(await followSeries(db, autumn, 3)).toEqual([
      '2025-11-01T13:00:00.000Z',
      '2025-11-02T14:00:00.000Z',
      '2025-11-03T14:00:00.000Z',
    ]);
  });

  test('daily 02:30 America/New_York: on 2025-03-09 it does not exist and becomes 03:30 EDT; the next day is 02:30 again', async ({
    db,
  }) => {
    const task = await recurringTask(db.knex, { zone: 'America/New_York', due: '2025-03-08T07:30:00Z' });
    expect(await followSeries(db, task, 2)).toEqual([
      '2025-03-09T07:30:00.000Z', // 03:30 EDT
      '2025-03-10T06:30:00.000Z', // 02:30 EDT
    ]);
  });

  test('daily 01:30 America/New_York: on 2025-11-02 it occurs twice and takes the first (EDT); then 01:30 EST', async ({
    db,
  }) => {
    const task = await recurringTask(db.knex, { zone: 'America/New_York', due: '2025-11-01T05:30:00Z' });
    expect(await followSeries(db, task, 2)).toEqual([
      '2025-11-02T05:30:00.000Z', // 01:30 EDT, the first of the two
      '2025-11-03T06:30:00.000Z', // 01:30 EST
    ]);
  });

  test('daily 02:30 America/New_York across 2025-11-02 (not ambiguous) and 09:00 Asia/Kathmandu (+05:45)', async ({ db }) => {
    const ny = await recurringTask(db.knex, { zone: 'America/New_York', due: '2025-11-01T06:30:00Z' });
    expect(await followSeries(db, ny, 2)).toEqual(['2025-11-02T07:30:00.000Z', '2025-11-03T07:30:00.000Z']);
    const kathmandu = await recurringTask(db.knex, { zone: 'Asia/Kathmandu', kind: 'monthly', due: '2025-01-31T03:15:00Z' });
    expect(await followSeries(db, kathmandu, 2)).toEqual(['2025-02-28T03:15:00.000Z', '2025-03-31T03:15:00.000Z']);
  });
});

describe('recurring: recurrence_instant, the wall-clock to instant rule, in any zone', () => {
  test('a 30-minute fall-back (Australia/Lord_Howe) takes the first; a 30-minute gap moves forward', async ({ db }) => {
    const instant = async (local: string, zone: string) =>
      (await db.knex.raw<{ rows: { at: Date }[] }>('SELECT recurrence_instant(?::timestamp, ?) AS at', [local, zone])).rows[0].at;

    expect(await instant('2025-04-06 01:45', 'Australia/Lord_Howe')).toEqual(at('2025-04-05T14:45:00Z')); // +11:00, not +10:30
    expect(await instant('2025-10-05 02:15', 'Australia/Lord_Howe')).toEqual(at('2025-10-04T15:45:00Z')); // 02:45 +11:00
    expect(await instant('2025-11-02 01:30', 'America/New_York')).toEqual(at('2025-11-02T05:30:00Z'));
    expect(await instant('2025-03-09 02:30', 'America/New_York')).toEqual(at('2025-03-09T07:30:00Z'));
  });
});

describe('recurring: late and early completion', () => {
  test('completed three weeks late: the first occurrence after the completion, on the cadence', async ({ db }) => {
    const daily = await recurringTask(db.knex, { due: '2025-06-02T09:00:00Z', completedAt: '2025-06-23T15:00:00Z' });
    const weekly = await recurringTask(db.knex, {
      kind: 'weekly',
      due: '2025-06-02T09:00:00Z',
      completedAt: '2025-06-23T10:00:00Z',
    });
    const monthly = await recurringTask(db.knex, {
      kind: 'monthly',
      due: '2025-01-31T09:00:00Z',
      completedAt: '2025-02-21T09:00:00Z',
    });

    await runJob(db, '2025-06-23T15:05:00Z');

    expect((await childOf(db.knex, daily.id))!.due_date).toEqual(at('2025-06-24T09:00:00Z'));
    expect((await childOf(db.knex, weekly.id))!.due_date).toEqual(at('2025-06-30T09:00:00Z'));
    expect((await childOf(db.knex, monthly.id))!.due_date).toEqual(at('2025-02-28T09:00:00Z'));
  });

  test('completed early: the next occurrence after its own due date', async ({ db }) => {
    const task = await recurringTask(db.knex, { due: '2025-06-10T09:00:00Z', completedAt: '2025-06-05T12:00:00Z' });
    await runJob(db, '2025-06-05T12:01:00Z');
    expect((await childOf(db.knex, task.id))!.due_date).toEqual(at('2025-06-11T09:00:00Z'));
  });

  test('completed without a completion time: after the later of its due date and now', async ({ db }) => {
    const task = await recurringTask(db.knex, { due: '2025-06-10T09:00:00Z', completedAt: null });
    await runJob(db, '2025-06-12T12:00:00Z');
    expect((await childOf(db.knex, task.id))!.due_date).toEqual(at('2025-06-13T09:00:00Z'));
  });
});

describe('recurring: reminders travel with the series', () => {
  test('each reminder of the source is recreated, unsent, at the same offset from the new due date; once', async ({ db }) => {
    const source = await recurringTask(db.knex, { zone: 'America/New_York', due: '2025-03-08T14:00:00Z' });
    const other = await createTask(db.knex, { user_id: source.user_id, due_date: at('2025-03-08T14:00:00Z') });
    const [sent, unsent] = await db
      .knex('reminders')
      .insert([
        {
          user_id: source.user_id,
          task_id: source.id,
          remind_at: at('2025-03-07T14:00:00Z'),
          sent: true,
          sent_at: at('2025-03-07T14:00:00Z'),
          outcome: 'queued',
          channels: ['web', 'chat'],
        },
        { user_id: source.user_id, task_id: source.id, remind_at: at('2025-03-08T13:45:00Z'), message: 'Soon' },
        { user_id: source.user_id, task_id: other.id, remind_at: at('2025-03-08T13:00:00Z') },
      ])
      .returning('id');

    const run = await runJob(db, '2025-03-08T14:00:00Z');
    const child = (await childOf(db.knex, source.id))!;
    await db.knex('tasks').where({ id: source.id }).update({ last_processed_at: null });
    await runJob(db, '2025-03-08T14:10:00Z');

    expect(run.json()).toMatchObject({ counts: { instances_created: 1, reminders_carried: 2 } });
    // Due 2025-03-09 09:00 EDT = 13:00Z: the same 24 hours and 15 minutes before it.
    expect(
      await db
        .knex('reminders')
        .where({ task_id: child.id })
        .orderBy('remind_at')
        .select('remind_at', 'sent', 'sent_at', 'outcome', 'channels', 'message', 'carried_from'),
    ).toEqual([
      {
        remind_at: at('2025-03-08T13:00:00Z'),
        sent: false,
        sent_at: null,
        outcome: null,
        channels: ['web', 'chat'],
        message: null,
        carried_from: sent.id,
      },
      {
        remind_at: at('2025-03-09T12:45:00Z'),
        sent: false,
        sent_at: null,
        outcome: null,
        channels: ['web'],
        message: 'Soon',
        carried_from: unsent.id,
      },
    ]);
    expect(await db.knex('reminders').count({ n: '*' })).toEqual([{ n: '5' }]);
  });
});

describe('recurring: bad rows never stop the batch', () => {
  test('an unknown owner zone and a date past the calendar fail alone, logged with id and reason; exit 1', async ({ db }) => {
    const good = await recurringTask(db.knex, { due: '2025-06-01T09:00:00Z' });
    const mars = await recurringTask(db.knex, { zone: 'Mars/Olympus', due: '2025-06-01T09:00:00Z' });
    const overflow = await recurringTask(db.knex, { kind: 'yearly', every: 2_147_483_647, due: '2025-06-01T09:00:00Z' });
    const last = await recurringTask(db.knex, { kind: 'daily', due: '9999-12-31T09:00:00Z' });

    const run = await runJob(db, '2025-06-01T10:00:00Z');

    expect(run.code).toBe(1);
    expect(run.json()).toMatchObject({ status: 'failed', processed: 1, failed: 3, ids: { instances_created: [good.id] } });
    expect(await childOf(db.knex, good.id)).toBeDefined();
    for (const bad of [mars, overflow, last]) {
      expect(await childOf(db.knex, bad.id)).toBeUndefined();
      expect((await getTask(db.knex, bad.id)).last_processed_at).toBeNull();
    }
    const failures = run.logs().filter((line) => line.msg === `recurring: item ${String(line.id)} failed`);
    expect(failures).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ id: mars.id, reason: 'the owner\'s time zone "Mars/Olympus" is unknown' }),
        expect.objectContaining({ id: overflow.id, reason: 'the next due date overflows the calendar (after 9999-12-31)' }),
        expect.objectContaining({ id: last.id, reason: 'the next due date overflows the calendar (after 9999-12-31)' }),
      ]),
    );
  });
});

describe('recurring: --dry-run lists what it would create and writes nothing', () => {
  test('source id and next due date per instance; no task, no reminder, no stamp', async ({ db }) => {
    const source = await recurringTask(db.knex, { kind: 'monthly', due: '2024-01-31T09:00:00Z' });
    await db.knex('reminders').insert({ user_id: source.user_id, task_id: source.id, remind_at: at('2024-01-31T08:00:00Z') });

    const run = await cli(['--dry-run', 'recurring', '--now', '2024-02-01T00:00:00Z'], { DATABASE_URL: db.url });

    expect(run.code).toBe(0);
    expect(run.stdout).toContain('dry run');
    expect(run.stdout).toContain(`instances_created: 1 (${source.id})`);
    expect(run.logs()).toContainEqual(
      expect.objectContaining({
        taskId: source.id,
        nextDue: '2024-02-29T09:00:00.000Z',
        msg: `would create the next instance of task ${source.id}, due 2024-02-29T09:00:00.000Z`,
      }),
    );
    expect(await db.knex('tasks').count({ n: '*' })).toEqual([{ n: '1' }]);
    expect(await db.knex('reminders').count({ n: '*' })).toEqual([{ n: '1' }]);
    expect((await getTask(db.knex, source.id)).last_processed_at).toBeNull();
  });
});

/** `count` eligible daily tasks over owners in several zones, in one statement. */
async function seedEligible(knex: Knex, count: number): Promise<void> {
  await knex.raw(
    `WITH owners AS (
       INSERT INTO users (email, timezone)
       SELECT 'owner-' || i || '@example.test', (ARRAY['UTC', 'America/New_York', 'Asia/Kathmandu', 'Europe/Berlin', 'Australia/Lord_Howe'])[1 + i % 5]
         FROM generate_series(1, 50) i
       RETURNING id
     )
     INSERT INTO tasks (user_id, title, due_date, completed, completed_at, is_recurring, recurrence_type)
     SELECT o.ids[1 + i % 50], 'Task ' || i, timestamptz '2025-06-01 09:00Z' + (i % 1000) * interval '1 minute',
            true, timestamptz '2025-06-01 12:00Z', true, (ARRAY['daily', 'weekly', 'monthly', 'yearly'])[1 + i % 4]
       FROM generate_series(1, :count) i, (SELECT array_agg(id) AS ids FROM owners) o`,
    { count },
  );
}

const countRows = async (knex: Knex, sql: string) => Number((await knex.raw<{ rows: { n: string }[] }>(sql)).rows[0].n);
const CHILDREN = 'SELECT count(*) AS n FROM tasks WHERE recurrence_parent_id IS NOT NULL';

describe('recurring: exactly once under concurrency and crashes', () => {
  test('four concurrent runs over 10,000 eligible tasks create exactly 10,000 instances', async ({ db }) => {
    await seedEligible(db.knex, 10_000);

    const runs = await Promise.all([1, 2, 3, 4].map(() => runJob(db, '2025-06-01T12:05:00Z', '--batch-size', '250')));

    expect(runs.map((run) => run.code)).toEqual([0, 0, 0, 0]);
    expect(runs.reduce((sum, run) => sum + run.json<{ processed: number }>().processed, 0)).toBe(10_000);
    expect(await countRows(db.knex, CHILDREN)).toBe(10_000);
    expect(
      await countRows(db.knex, 'SELECT count(*) AS n FROM tasks WHERE is_recurring AND completed AND last_processed_at IS NULL'),
    ).toBe(0);
  });

  test('a run killed with SIGKILL mid-way, then rerun, leaves exactly one instance per task', async ({ db }) => {
    await seedEligible(db.knex, 20_000);

    const killed = spawnCli(['recurring', '--now', '2025-06-01T12:05:00Z', '--batch-size', '100'], { DATABASE_URL: db.url });
    // Kill it once its first batches are committed (seen from outside), long before its 200th.
    const deadline = Date.now() + 20_000;
    while ((await countRows(db.knex, CHILDREN)) === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    killed.child.kill('SIGKILL');
    await killed.done;
    const afterKill = await countRows(db.knex, CHILDREN);
    const rerun = await runJob(db, '2025-06-01T12:10:00Z');

    expect(afterKill).toBeGreaterThan(0);
    expect(afterKill).toBeLessThan(20_000);
    expect(rerun.code).toBe(0);
    expect(rerun.json()).toMatchObject({ processed: 20_000 - afterKill });
    expect(await countRows(db.knex, CHILDREN)).toBe(20_000);
    // Every processed source has its instance, and no source is stamped without one.
    expect(
      await countRows(
        db.knex,
        `SELECT count(*) AS n FROM tasks s WHERE s.completed AND (s.last_processed_at IS NULL
            OR NOT EXISTS (SELECT 1 FROM tasks c WHERE c.recurrence_parent_id = s.id))`,
      ),
    ).toBe(0);
  });
});

describe('recurring: the demo data shows a 31st and a DST change', () => {
  test('monthly on Oct 31 goes to Nov 30; daily 09:00 New York on Oct 31 goes to 09:00 EST on Nov 1', async ({ db }) => {
    const owner = await createUser(db.knex, { timezone: 'America/New_York' });
    await db.knex.transaction((trx) => seedRecurringDemo(trx, owner.id, 'America/New_York', at('2026-11-22T12:00:00Z')));

    const run = await runJob(db, '2026-11-22T12:00:00Z');

    expect(run.json()).toMatchObject({ processed: 2 });
    const instances = await db
      .knex('tasks')
      .where({ user_id: owner.id, completed: false })
      .orderBy('title')
      .select('title', 'due_date');
    expect(instances).toEqual([
      { title: 'Morning stand-up notes', due_date: at('2026-11-01T14:00:00Z') },
      { title: 'Pay the credit card', due_date: at('2026-11-30T23:00:00Z') },
    ]);
  });
});
