import { setTimeout as sleep } from 'node:timers/promises';
import type { Knex } from 'knex';
import webpush from 'web-push';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { OVERLAP_MS, followWindow } from '../src/core/follow.js';
import { cli, spawnCli } from './support/cli.js';
import { test, type TestDatabase } from './support/db.js';
import { createUser, plusMs } from './support/factories.js';
import { PushService } from './support/pushService.js';

// Following runs (PLANNER_FOLLOW, src/core/follow.ts), as the real binary runs them: a short
// window through --max-runtime (the budget bounds the window), the real clock unless --now.
const vapid = webpush.generateVAPIDKeys();
const FOLLOWING = 'following until';

let push: PushService;
beforeEach(async () => {
  push = await PushService.start(vapid.publicKey);
});
afterEach(async () => {
  await push.close();
});

const env = (db: TestDatabase, extra: Record<string, string> = {}) => ({
  DATABASE_URL: db.url,
  VAPID_PUBLIC_KEY: vapid.publicKey,
  VAPID_PRIVATE_KEY: vapid.privateKey,
  VAPID_SUBJECT: 'mailto:ops@example.test',
  PLANNER_FOLLOW: 'true',
  ...push.clientEnv,
  ...extra,
});

/** A following run of `job` with a window of `seconds`, started and listening (or polling). */
async function follow(
  job: 'reminders' | 'notifications',
  db: TestDatabase,
  seconds: number,
  extra: Record<string, string> = {},
  args: string[] = [],
) {
  const run = spawnCli([job, '--max-runtime', String(seconds), '--json', ...args], env(db, extra));
  await run.waitFor(FOLLOWING);
  return run;
}

/** A user with one push subscription at the test push service. */
async function subscribedUser(knex: Knex) {
  const user = await createUser(knex);
  const subscription = push.subscribe();
  await knex('push_subscriptions').insert({
    user_id: user.id,
    endpoint: subscription.endpoint,
    p256dh: subscription.p256dh,
    auth: subscription.auth,
  });
  return user;
}

const remind = (knex: Knex, userId: string, remindAt: Date[]) =>
  knex('reminders')
    .insert(remindAt.map((remind_at, i) => ({ user_id: userId, remind_at, message: `reminder ${i}` })))
    .returning<{ id: string; remind_at: Date }[]>(['id', 'remind_at']);

/** Resolves when the push service has `count` messages, or rejects after `ms`. */
const received = (count: number, ms: number) =>
  Promise.race([
    push.receivedCount(count),
    sleep(ms).then(() => {
      throw new Error(`${push.received.length} of ${count} messages after ${ms} ms`);
    }),
  ]);

describe('following: a reminder written while the runs wait reaches the push service at its second, once', () => {
  test('inserted 1.5 s before it is due: delivered within a second of remind_at, once; both runs exit 0', async ({ db }) => {
    const user = await subscribedUser(db.knex);
    const reminders = await follow('reminders', db, 8);
    const notifications = await follow('notifications', db, 8);

    const [reminder] = await remind(db.knex, user.id, [plusMs(new Date(), 1500)]);
    await received(1, 6000);
    const lateness = Date.now() - reminder.remind_at.getTime();

    const [r, n] = await Promise.all([reminders.done, notifications.done]);
    expect([r.code, n.code]).toEqual([0, 0]);
    expect(lateness).toBeLessThan(1000);
    expect(push.received.map((m) => m.payload.title)).toEqual(['reminder 0']);
    expect(await db.knex('notifications').where({ dedupe_key: `reminder:${reminder.id}` })).toMatchObject([{ status: 'sent' }]);
    expect(r.json()).toMatchObject({ status: 'succeeded', processed: 1 });
  });

  test('two overlapping runs of each job: every reminder delivered exactly once', async ({ db }) => {
    const user = await subscribedUser(db.knex);
    const runs = await Promise.all([
      follow('reminders', db, 8),
      follow('reminders', db, 8),
      follow('notifications', db, 8),
      follow('notifications', db, 8),
    ]);

    const now = Date.now();
    // Some already due when written, the rest over the next two seconds.
    const due = Array.from({ length: 40 }, (_, i) => plusMs(new Date(now), -500 + i * 60));
    const reminders = await remind(db.knex, user.id, due);
    await received(40, 8000);

    const results = await Promise.all(runs.map((run) => run.done));
    expect(results.map((result) => result.code)).toEqual([0, 0, 0, 0]);
    await sleep(200); // nothing more may arrive
    const titles = push.received.map((m) => m.payload.title).sort();
    expect(titles).toEqual(reminders.map((_, i) => `reminder ${i}`).sort());
    const sent = results[2].json<{ processed: number }>().processed + results[3].json<{ processed: number }>().processed;
    expect(sent).toBe(40);
  });

  test('without LISTEN (PLANNER_LISTEN=false, as behind PgBouncer in transaction mode) the 1 s poll still delivers', async ({
    db,
  }) => {
    const user = await subscribedUser(db.knex);
    const noListen = { PLANNER_LISTEN: 'false' };
    const reminders = await follow('reminders', db, 6, noListen);
    const notifications = await follow('notifications', db, 6, noListen);

    // Already due when written: no timer knows it, only the poll finds it.
    const [reminder] = await remind(db.knex, user.id, [plusMs(new Date(), -100)]);
    await received(1, 5000);
    const lateness = Date.now() - reminder.remind_at.getTime();

    const [r, n] = await Promise.all([reminders.done, notifications.done]);
    expect([r.code, n.code]).toEqual([0, 0]);
    expect(r.stderr).toContain('a poll every 1 s');
    expect(lateness).toBeLessThan(3000);
    expect(push.received).toHaveLength(1);
  });
});

describe('following: a LISTEN connection lost mid-run', () => {
  test('the run says so once and polls: a reminder written after still goes out within about a second', async ({ db }) => {
    const user = await createUser(db.knex);
    const run = await follow('reminders', db, 8);

    await db.knex.raw(
      `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'planner-jobs:reminders:listen'`,
    );
    await run.waitFor('the LISTEN connection was lost');
    const [reminder] = await remind(db.knex, user.id, [plusMs(new Date(), -100)]);
    let row: { sent: boolean; sent_at: Date | null } = { sent: false, sent_at: null };
    for (let i = 0; i < 40 && !row.sent; i++) {
      await sleep(100);
      row = await db.knex('reminders').where({ id: reminder.id }).first();
    }

    expect(row.sent).toBe(true);
    expect(row.sent_at!.getTime() - reminder.remind_at.getTime()).toBeLessThan(2500);
    const result = await run.done;
    expect(result.code).toBe(0);
    expect(result.stderr.split('the LISTEN connection was lost')).toHaveLength(2);
  });
});

describe('following: stopping', () => {
  test('SIGTERM while waiting exits 0 within a second, recorded as succeeded', async ({ db }) => {
    const run = await follow('reminders', db, 60, { LOG_LEVEL: 'debug' });
    await run.waitFor('waiting for work'); // past its first round

    const signalled = Date.now();
    run.child.kill('SIGTERM');
    const result = await run.done;
    const took = Date.now() - signalled;

    expect(result.code).toBe(0);
    expect(took).toBeLessThan(1000);
    expect(result.json()).toMatchObject({ status: 'succeeded', reason: 'stopped while waiting' });
    expect(await db.knex('job_runs').where({ job: 'reminders' }).first()).toMatchObject({ status: 'succeeded' });
  });

  test('--dry-run does not follow, and a run without PLANNER_FOLLOW exits once drained', async ({ db }) => {
    const started = Date.now();
    const dry = await cli(['reminders', '--dry-run', '--json'], env(db));
    const plain = await cli(['notifications', '--json'], env(db, { PLANNER_FOLLOW: 'false' }));

    expect([dry.code, plain.code]).toEqual([0, 0]);
    expect(dry.stderr + plain.stderr).not.toContain(FOLLOWING);
    expect(Date.now() - started).toBeLessThan(10_000);
  });
});

describe('following: --now replays on a clock that advances in real time', () => {
  test('a reminder due one second after --now is queued about a second into the run', async ({ db }) => {
    const user = await createUser(db.knex);
    const NOW = new Date('2025-06-01T12:00:00.000Z');
    const [reminder] = await remind(db.knex, user.id, [plusMs(NOW, 1000), plusMs(NOW, 3_600_000)]);

    const run = spawnCli(['reminders', '--now', NOW.toISOString(), '--max-runtime', '3', '--json'], env(db));
    const result = await run.done;

    expect(result.code).toBe(0);
    expect(result.json()).toMatchObject({ status: 'succeeded', processed: 1, now: NOW.toISOString() });
    const row = await db.knex('reminders').where({ id: reminder.id }).first();
    expect(row.outcome).toBe('queued');
    expect(row.sent_at.getTime() - reminder.remind_at.getTime()).toBeGreaterThanOrEqual(0);
    expect(row.sent_at.getTime() - reminder.remind_at.getTime()).toBeLessThan(1000);
  });
});

describe('following: the window lasts until the next tick plus the overlap, within the budget', () => {
  const started = Date.parse('2025-06-01T12:00:20.000Z');

  it('a minutely run started at 12:00:20 waits until 12:01:15; a 30 s budget ends it at 12:00:50', () => {
    expect(followWindow('* * * * *', started, started + 90_000)).toEqual({
      windowEndMs: Date.parse('2025-06-01T12:01:00.000Z') + OVERLAP_MS,
    });
    expect(followWindow('* * * * *', started, started + 30_000)).toEqual({
      windowEndMs: started + 30_000,
      gap: expect.stringContaining('the time budget (30 s) ends before the next run of "* * * * *" (2025-06-01T12:01:00.000Z)'),
    });
  });

  it('a schedule slower than the budget: the window is the budget, and the gap is said', () => {
    expect(followWindow('*/5 * * * *', started, started + 90_000)).toEqual({
      windowEndMs: started + 90_000,
      gap: expect.stringContaining('raise --max-runtime past the schedule'),
    });
  });

  it('a schedule that does not parse leaves the budget alone to decide (the jobs never fail on a schedule)', () => {
    expect(followWindow('every minute', started, started + 90_000)).toEqual({
      windowEndMs: started + 90_000,
      gap: expect.stringContaining('does not parse'),
    });
  });
});
