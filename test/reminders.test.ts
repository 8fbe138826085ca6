import { describe, expect } from 'vitest';
import { cli } from './support/cli.js';
import { test } from './support/db.js';
import { at, createTask, createUser, plusMs } from './support/factories.js';
import type { Knex } from 'knex';

const NOW = '2025-06-01T12:00:00.000Z';
const now = at(NOW);
const HOUR = 3600_000;

async function createReminder(knex: Knex, fields: Record<string, unknown>) {
  const [reminder] = await knex('reminders').insert(fields).returning('*');
  return reminder as { id: string; user_id: string; task_id: string | null };
}

const reminder = (knex: Knex, id: string) => knex('reminders').where({ id }).first();
const notificationOf = (knex: Knex, id: string) =>
  knex('notifications')
    .where({ dedupe_key: `reminder:${id}` })
    .first();

describe('reminders: a due reminder becomes one notification and is marked sent', () => {
  test('due at or before now is queued with the task title and due time in the user zone; later is left alone', async ({
    db,
  }) => {
    const user = await createUser(db.knex, { timezone: 'Europe/Berlin' });
    const task = await createTask(db.knex, { user_id: user.id, title: 'Pay rent', due_date: at('2025-06-01T13:30:00Z') });
    const due = await createReminder(db.knex, { user_id: user.id, task_id: task.id, remind_at: now, channels: '{web,chat}' });
    const future = await createReminder(db.knex, { user_id: user.id, task_id: task.id, remind_at: plusMs(now, 1) });

    const run = await cli(['reminders', '--now', NOW, '--json'], { DATABASE_URL: db.url });

    expect(run.code).toBe(0);
    expect(run.json()).toMatchObject({
      status: 'succeeded',
      processed: 1,
      left_alone: 0,
      counts: { queued: 1, notifications_queued: 1 },
    });
    expect(await reminder(db.knex, due.id)).toMatchObject({ sent: true, sent_at: now, outcome: 'queued' });
    expect(await reminder(db.knex, future.id)).toMatchObject({ sent: false, outcome: null });
    expect(await notificationOf(db.knex, due.id)).toMatchObject({
      user_id: user.id,
      title: 'Pay rent',
      body: 'Due Sun 01 Jun 2025, 15:30 (Europe/Berlin)',
      url: `/tasks/${task.id}`,
      channels: ['web', 'chat'],
      source: 'reminder',
      status: 'pending',
      run_after: now,
    });
  });

  test("the reminder's own message is the title, the task's title moves to the body; no task: no due time", async ({ db }) => {
    const user = await createUser(db.knex, { timezone: 'Asia/Kathmandu' });
    const task = await createTask(db.knex, { user_id: user.id, title: 'Dentist', due_date: at('2025-06-02T04:15:00Z') });
    const withMessage = await createReminder(db.knex, {
      user_id: user.id,
      task_id: task.id,
      remind_at: now,
      message: 'Leave now',
    });
    const standalone = await createReminder(db.knex, { user_id: user.id, remind_at: now, message: 'Drink water' });

    await cli(['reminders', '--now', NOW], { DATABASE_URL: db.url });

    expect(await notificationOf(db.knex, withMessage.id)).toMatchObject({
      title: 'Leave now',
      body: 'Dentist · Due Mon 02 Jun 2025, 10:00 (Asia/Kathmandu)',
    });
    expect(await notificationOf(db.knex, standalone.id)).toMatchObject({ title: 'Drink water', body: null, url: null });
  });

  test('a user with an unknown stored zone gets the due time in UTC rather than failing the batch', async ({ db }) => {
    const user = await createUser(db.knex, { timezone: 'Mars/Olympus' });
    const task = await createTask(db.knex, { user_id: user.id, title: 'Launch', due_date: at('2025-06-01T18:00:00Z') });
    const r = await createReminder(db.knex, { user_id: user.id, task_id: task.id, remind_at: now });

    const run = await cli(['reminders', '--now', NOW, '--json'], { DATABASE_URL: db.url });

    expect(run.json()).toMatchObject({ processed: 1, failed: 0 });
    expect((await notificationOf(db.knex, r.id)).body).toBe('Due Sun 01 Jun 2025, 18:00 (UTC)');
  });
});

describe('reminders: completed or deleted tasks are skipped, stale reminders expire', () => {
  test('skipped for a completed or deleted task, expired past REMINDER_MAX_LATENESS, both counted with their ids', async ({
    db,
  }) => {
    const user = await createUser(db.knex);
    const done = await createTask(db.knex, { user_id: user.id, completed: true, completed_at: now });
    const deleted = await createTask(db.knex, { user_id: user.id });
    const open = await createTask(db.knex, { user_id: user.id });
    const ofDone = await createReminder(db.knex, { user_id: user.id, task_id: done.id, remind_at: plusMs(now, -HOUR) });
    const ofDeleted = await createReminder(db.knex, { user_id: user.id, task_id: deleted.id, remind_at: plusMs(now, -HOUR) });
    await db.knex('tasks').where({ id: deleted.id }).delete();
    const stale = await createReminder(db.knex, { user_id: user.id, task_id: open.id, remind_at: plusMs(now, -2 * HOUR - 1) });
    const justInTime = await createReminder(db.knex, { user_id: user.id, task_id: open.id, remind_at: plusMs(now, -2 * HOUR) });

    const run = await cli(['reminders', '--now', NOW, '--json'], { DATABASE_URL: db.url, REMINDER_MAX_LATENESS: 'PT2H' });

    expect(run.code).toBe(0);
    const summary = run.json<{ counts: Record<string, number>; ids: Record<string, string[]>; left_alone: number }>();
    expect(summary).toMatchObject({ processed: 1, left_alone: 3, counts: { queued: 1, skipped: 2, expired: 1 } });
    expect(summary.ids.skipped.sort()).toEqual([ofDone.id, ofDeleted.id].sort());
    expect(summary.ids.expired).toEqual([stale.id]);
    expect(await reminder(db.knex, ofDone.id)).toMatchObject({ sent: true, sent_at: now, outcome: 'skipped' });
    expect(await reminder(db.knex, ofDeleted.id)).toMatchObject({ sent: true, outcome: 'skipped' });
    expect(await reminder(db.knex, stale.id)).toMatchObject({ sent: true, outcome: 'expired' });
    expect(await reminder(db.knex, justInTime.id)).toMatchObject({ outcome: 'queued' });
    expect(await db.knex('notifications').count<{ count: string }[]>('* as count')).toEqual([{ count: '1' }]);
  });
});

describe('reminders: no reminder is ever queued twice', () => {
  test('reruns queue nothing more; a reminder reset by hand still yields one notification (dedupe key)', async ({ db }) => {
    const user = await createUser(db.knex);
    const r = await createReminder(db.knex, { user_id: user.id, remind_at: now, message: 'Once' });
    await cli(['reminders', '--now', NOW], { DATABASE_URL: db.url });
    const rerun = await cli(['reminders', '--now', NOW, '--json'], { DATABASE_URL: db.url });
    await db.knex('reminders').where({ id: r.id }).update({ sent: false, outcome: null, sent_at: null });
    const afterReset = await cli(['reminders', '--now', NOW, '--json'], { DATABASE_URL: db.url });

    expect(rerun.json()).toMatchObject({ processed: 0 });
    expect(afterReset.json()).toMatchObject({ processed: 1, counts: { queued: 1 } });
    expect(afterReset.json<{ counts: Record<string, number> }>().counts.notifications_queued).toBeUndefined();
    expect(await db.knex('notifications').where({ user_id: user.id })).toHaveLength(1);
  });

  test('overlapping runs over 3,000 reminders queue each exactly once', async ({ db }) => {
    const user = await createUser(db.knex);
    await db.knex.raw(
      `INSERT INTO reminders (user_id, remind_at, message) SELECT :user, :now::timestamptz - i * interval '1 second', 'R' || i FROM generate_series(1, 3000) i`,
      { user: user.id, now: NOW },
    );
    const runs = await Promise.all(
      [1, 2, 3].map(() => cli(['reminders', '--now', NOW, '--batch-size', '100', '--json'], { DATABASE_URL: db.url })),
    );

    expect(runs.map((r) => r.code)).toEqual([0, 0, 0]);
    expect(runs.reduce((sum, r) => sum + r.json<{ processed: number }>().processed, 0)).toBe(3000);
    const [{ count }] = await db.knex('notifications').count<{ count: string }[]>('* as count');
    expect(Number(count)).toBe(3000);
    const [{ unsent }] = await db.knex('reminders').where({ sent: false }).count<{ unsent: string }[]>('* as unsent');
    expect(Number(unsent)).toBe(0);
  });

  test('--dry-run reports what it would queue and writes nothing', async ({ db }) => {
    const user = await createUser(db.knex);
    const r = await createReminder(db.knex, { user_id: user.id, remind_at: now });
    const run = await cli(['reminders', '--now', NOW, '--dry-run', '--json'], { DATABASE_URL: db.url });

    expect(run.json()).toMatchObject({ dry_run: true, processed: 1, ids: { queued: [r.id] } });
    expect(await reminder(db.knex, r.id)).toMatchObject({ sent: false });
    expect(await db.knex('notifications')).toHaveLength(0);
  });
});
