import { describe, expect } from 'vitest';
import { cli } from './support/cli.js';
import { test } from './support/db.js';
import { at, createTask, createTasks, getTask, plusMs } from './support/factories.js';

const NOW = '2025-06-01T12:00:00.000Z';
const now = at(NOW);

describe('overdue: a task is overdue only when its due date is strictly before now', () => {
  test('due one millisecond ago is marked, due exactly now and later are not', async ({ db }) => {
    const late = await createTask(db.knex, { due_date: plusMs(now, -1) });
    const dueNow = await createTask(db.knex, { due_date: now });
    const future = await createTask(db.knex, { due_date: plusMs(now, 60_000) });
    const noDue = await createTask(db.knex, { due_date: null });
    const done = await createTask(db.knex, { due_date: plusMs(now, -3600_000), completed: true });

    const run = await cli(['overdue', '--now', NOW, '--json'], { DATABASE_URL: db.url });

    expect(run.code).toBe(0);
    expect(run.json()).toMatchObject({ job: 'overdue', status: 'succeeded', processed: 1, failed: 0, dry_run: false });
    expect(await getTask(db.knex, late.id)).toMatchObject({ status: 'overdue', overdue_at: now });
    for (const task of [dueNow, future, noDue, done]) expect((await getTask(db.knex, task.id)).status).toBe('open');
  });

  test('overdue_at is set once: a later run leaves it alone', async ({ db }) => {
    const task = await createTask(db.knex, { due_date: plusMs(now, -1000) });
    await cli(['overdue', '--now', NOW], { DATABASE_URL: db.url });
    const later = await cli(['overdue', '--now', '2025-06-02T12:00:00Z', '--json'], { DATABASE_URL: db.url });

    expect(later.json()).toMatchObject({ processed: 0 });
    expect((await getTask(db.knex, task.id)).overdue_at).toEqual(now);
  });
});

describe('overdue: batch after batch, nothing is skipped', () => {
  test('tasks sharing one due date across batch boundaries are all marked in one run', async ({ db }) => {
    await createTasks(db.knex, 5, { due_date: plusMs(now, -60_000) });
    await createTasks(db.knex, 2, { due_date: plusMs(now, -30_000) });
    const run = await cli(['overdue', '--now', NOW, '--batch-size', '2', '--json'], { DATABASE_URL: db.url });

    expect(run.json()).toMatchObject({ processed: 7 });
    expect(await db.knex('tasks').where({ status: 'open' }).count({ n: '*' })).toEqual([{ n: '0' }]);
  });
});

describe('overdue: a task that is no longer overdue goes back to open', () => {
  test('due date moved to the future, or to exactly now, or removed; or the task completed', async ({ db }) => {
    const tasks = await Promise.all([0, 1, 2, 3, 4].map(() => createTask(db.knex, { due_date: plusMs(now, -60_000) })));
    await cli(['overdue', '--now', NOW], { DATABASE_URL: db.url });
    const [moved, movedToNow, cleared, completed, stillLate] = tasks;
    await db
      .knex('tasks')
      .where({ id: moved.id })
      .update({ due_date: plusMs(now, 86_400_000) });
    await db.knex('tasks').where({ id: movedToNow.id }).update({ due_date: now });
    await db.knex('tasks').where({ id: cleared.id }).update({ due_date: null });
    await db.knex('tasks').where({ id: completed.id }).update({ completed: true, completed_at: now });

    const run = await cli(['overdue', '--now', NOW, '--json'], { DATABASE_URL: db.url });

    expect(run.json()).toMatchObject({ processed: 4, counts: { reopened_rescheduled: 2, reopened_settled: 2 } });
    for (const task of [moved, movedToNow, cleared, completed]) {
      expect(await getTask(db.knex, task.id)).toMatchObject({ status: 'open', overdue_at: null });
    }
    expect((await getTask(db.knex, stillLate.id)).status).toBe('overdue');
  });

  test('a reopened task that lapses again is stamped with the new time', async ({ db }) => {
    const task = await createTask(db.knex, { due_date: plusMs(now, -1000) });
    await cli(['overdue', '--now', NOW], { DATABASE_URL: db.url });
    await db
      .knex('tasks')
      .where({ id: task.id })
      .update({ due_date: plusMs(now, 3600_000) });
    await cli(['overdue', '--now', NOW], { DATABASE_URL: db.url });
    const later = at('2025-06-01T14:00:00Z');
    await cli(['overdue', '--now', later.toISOString()], { DATABASE_URL: db.url });

    expect(await getTask(db.knex, task.id)).toMatchObject({ status: 'overdue', overdue_at: later });
  });
});

describe('overdue: OVERDUE_NOTIFY queues one notification per newly overdue task, never two', () => {
  test('one notification with the dedupe key, none on reruns, none without the setting', async ({ db }) => {
    const task = await createTask(db.knex, { due_date: at('2025-06-01T09:30:00Z'), title: 'Pay rent' });
    const quiet = await createTask(db.knex, { due_date: at('2025-06-01T09:30:00Z') });
    await cli(['overdue', '--now', '2025-06-01T09:00:00Z'], { DATABASE_URL: db.url, OVERDUE_NOTIFY: 'true' });
    await db
      .knex('tasks')
      .where({ id: quiet.id })
      .update({ due_date: at('2025-06-01T11:00:00Z') });

    const first = await cli(['overdue', '--now', NOW, '--json'], { DATABASE_URL: db.url, OVERDUE_NOTIFY: 'true' });
    // Reopen and lapse again with the same due date: the key is the same, so no second notification.
    await db.knex('tasks').where({ id: task.id }).update({ status: 'open', overdue_at: null });
    const second = await cli(['overdue', '--now', NOW, '--json'], { DATABASE_URL: db.url, OVERDUE_NOTIFY: 'true' });

    expect(first.json()).toMatchObject({ counts: { marked_overdue: 2, notified: 2 } });
    expect(second.json()).toMatchObject({ counts: { marked_overdue: 1 } });
    const notifications = await db.knex('notifications').where({ source: 'overdue', user_id: task.user_id });
    expect(notifications).toHaveLength(1);
    expect(notifications[0]).toMatchObject({
      dedupe_key: `overdue:${task.id}:2025-06-01T09:30:00.000000Z`,
      title: 'Overdue: Pay rent',
      status: 'pending',
      channels: ['web'],
    });
  });

  test('without OVERDUE_NOTIFY nothing is queued', async ({ db }) => {
    await createTask(db.knex, { due_date: plusMs(now, -1000) });
    await cli(['overdue', '--now', NOW], { DATABASE_URL: db.url });
    expect(await db.knex('notifications').count({ n: '*' })).toEqual([{ n: '0' }]);
  });
});

describe('overdue: --dry-run reports what would change and writes nothing', () => {
  test('the same queries, rolled back; the run itself is recorded as a dry run', async ({ db }) => {
    const late = await createTask(db.knex, { due_date: plusMs(now, -1000) });
    const run = await cli(['--dry-run', 'overdue', '--now', NOW, '--batch-size', '1'], {
      DATABASE_URL: db.url,
      OVERDUE_NOTIFY: 'true',
    });

    expect(run.code).toBe(0);
    expect(run.stdout).toContain('dry run');
    expect(run.stdout).toContain(late.id);
    expect((await getTask(db.knex, late.id)).status).toBe('open');
    expect(await db.knex('notifications').count({ n: '*' })).toEqual([{ n: '0' }]);
    expect(await db.knex('job_runs').select('status', 'dry_run', 'processed')).toEqual([
      { status: 'succeeded', dry_run: true, processed: 1 },
    ]);
  });
});

describe('overdue: one run at a time', () => {
  test('two runs at once: each task is marked exactly once, and neither fails', async ({ db }) => {
    await Promise.all(Array.from({ length: 4 }, () => createTask(db.knex, { due_date: plusMs(now, -1000) })));
    const runs = await Promise.all(
      [1, 2].map(() => cli(['overdue', '--now', NOW, '--batch-size', '1', '--json'], { DATABASE_URL: db.url })),
    );

    expect(runs.map((run) => run.code)).toEqual([0, 0]);
    expect(runs.reduce((sum, run) => sum + run.json<{ processed: number }>().processed, 0)).toBe(4);
    expect(await db.knex('tasks').where({ status: 'overdue' }).count({ n: '*' })).toEqual([{ n: '4' }]);
  });

  test('while another run holds the lock, a run is skipped with exit 0', async ({ db }) => {
    await createTask(db.knex, { due_date: plusMs(now, -1000) });
    const trx = await db.knex.transaction();
    try {
      await trx.raw("select pg_advisory_xact_lock(x'504a4f42'::int, hashtext('planner-jobs:overdue'))");
      const run = await cli(['overdue', '--now', NOW, '--json'], { DATABASE_URL: db.url });
      expect(run.code).toBe(0);
      expect(run.json()).toMatchObject({ status: 'skipped', reason: 'another run holds the lock', processed: 0 });
    } finally {
      await trx.rollback();
    }
    expect(await db.knex('job_runs').select('status')).toEqual([{ status: 'skipped' }]);
    expect(await db.knex('tasks').where({ status: 'overdue' }).count({ n: '*' })).toEqual([{ n: '0' }]);
  });
});
