import type { Knex } from 'knex';
import { describe, expect } from 'vitest';
import { claimNext } from '../src/jobs/exports/claim.js';
import { markComplete, markFailedAttempt, release, renewLease } from '../src/jobs/exports/finish.js';
import { cli } from './support/cli.js';
import { test } from './support/db.js';
import { at, createExportJob, createNotification, createUser, type ExportJob, type Notification } from './support/factories.js';

const NOW = '2025-06-01T12:00:00.000Z';
const EARLIER = at('2025-06-01T08:00:00Z');

const notification = (knex: Knex, userId: string, status: Notification['status'], fields: Record<string, unknown> = {}) =>
  createNotification(knex, { user_id: userId, title: `n ${status}`, status, attempts: 5, run_after: EARLIER, ...fields });

const exportJob = (knex: Knex, userId: string, status: ExportJob['status'], fields: Record<string, unknown> = {}) =>
  createExportJob(knex, { user_id: userId, status, attempts: 3, ...fields });

const statusOf = async (knex: Knex, table: string, id: string) => (await knex(table).where({ id }).first()).status;

describe('retry notifications --failed: failed notifications go back to pending, nothing else moves', () => {
  test('only failed rows move: fresh attempts, due now, no lease; the last error is kept', async ({ db }) => {
    const user = await createUser(db.knex);
    const failed = await notification(db.knex, user.id, 'failed', { last_error: 'push service said 500', locked_until: EARLIER });
    const others = await Promise.all((['pending', 'processing', 'sent'] as const).map((s) => notification(db.knex, user.id, s)));
    const failedExport = await exportJob(db.knex, user.id, 'failed');

    const run = await cli(['retry', 'notifications', '--failed', '--now', NOW, '--json'], { DATABASE_URL: db.url });

    expect(run.code).toBe(0);
    expect(run.json()).toEqual({
      queue: 'notifications',
      dry_run: false,
      moved: 1,
      rows: [{ id: failed.id, error: 'push service said 500' }],
    });
    expect(await db.knex('notifications').where({ id: failed.id }).first()).toMatchObject({
      status: 'pending',
      attempts: 0,
      run_after: at(NOW),
      locked_until: null,
      last_error: 'push service said 500',
    });
    expect(await Promise.all(others.map((o) => statusOf(db.knex, 'notifications', o.id)))).toEqual([
      'pending',
      'processing',
      'sent',
    ]);
    expect(await statusOf(db.knex, 'export_jobs', failedExport.id)).toBe('failed');
    expect(run.logs().find((l) => String(l.msg).startsWith('retry notifications'))).toMatchObject({ ids: [failed.id] });
  });

  test('--dry-run lists exactly the rows a real run would move and writes nothing', async ({ db }) => {
    const user = await createUser(db.knex);
    const failed = await Promise.all([1, 2, 3].map(() => notification(db.knex, user.id, 'failed')));
    await notification(db.knex, user.id, 'sent');

    const dry = await cli(['retry', 'notifications', '--failed', '--dry-run'], { DATABASE_URL: db.url });

    expect(dry.code).toBe(0);
    expect(dry.stdout).toContain('notifications dry run (nothing written): would move 3 failed row(s) back to pending');
    for (const row of failed) expect(dry.stdout).toContain(row.id);
    expect(await db.knex('notifications').where({ status: 'failed' }).count({ n: '*' })).toEqual([{ n: '3' }]);
  });

  test('in batches (--batch-size 2 for 5 rows), and a rerun moves nothing', async ({ db }) => {
    const user = await createUser(db.knex);
    await Promise.all([1, 2, 3, 4, 5].map(() => notification(db.knex, user.id, 'failed')));

    const first = await cli(['retry', 'notifications', '--failed', '--batch-size', '2', '--json'], { DATABASE_URL: db.url });
    const again = await cli(['retry', 'notifications', '--failed', '--json'], { DATABASE_URL: db.url });

    expect(first.json()).toMatchObject({ moved: 5 });
    expect(again.json()).toMatchObject({ moved: 0 });
    expect(await db.knex('notifications').where({ status: 'pending' }).count({ n: '*' })).toEqual([{ n: '5' }]);
  });
});

describe('retry exports --failed: failed exports go back to pending', () => {
  test('--id limits it to the named rows; complete and pending exports never move', async ({ db }) => {
    const user = await createUser(db.knex);
    const chosen = await exportJob(db.knex, user.id, 'failed', {
      error: 'bucket missing',
      started_at: EARLIER,
      locked_until: EARLIER,
    });
    const other = await exportJob(db.knex, user.id, 'failed');
    const complete = await exportJob(db.knex, user.id, 'complete');

    const run = await cli(['retry', 'exports', '--failed', '--id', chosen.id, '--id', complete.id, '--json'], {
      DATABASE_URL: db.url,
    });

    expect(run.json()).toMatchObject({ moved: 1, rows: [{ id: chosen.id, error: 'bucket missing' }] });
    expect(await db.knex('export_jobs').where({ id: chosen.id }).first()).toMatchObject({
      status: 'pending',
      attempts: 0,
      locked_until: null,
      started_at: null,
    });
    expect(await statusOf(db.knex, 'export_jobs', other.id)).toBe('failed');
    expect(await statusOf(db.knex, 'export_jobs', complete.id)).toBe('complete');
  });
});

describe('retry: bad usage exits 64', () => {
  test.each([
    [['retry', 'notifications'], /--failed/],
    [['retry', 'tasks', '--failed'], /Allowed choices are notifications, exports/],
    [['retry', 'exports', '--failed', '--id', 'abc'], /--id takes a uuid/],
  ])('%j', async (args, message) => {
    const run = await cli(args, { DATABASE_URL: 'postgres://nobody@127.0.0.1:1/x' });
    expect(run.code).toBe(64);
    expect(run.stderr).toMatch(message);
  });
});

describe('retry exports --failed: a stale holder of an earlier attempt can never write again (lease token)', () => {
  test('after retry resets attempts, the old holder (same attempt number) matches nothing; the new attempt stands', async ({
    db,
  }) => {
    const user = await createUser(db.knex);
    await exportJob(db.knex, user.id, 'pending', { attempts: 0 });
    // A run claims it (attempt 1), stalls past its lease; the job ends failed and an operator redrives it.
    const stale = (await claimNext(db.knex, EARLIER, []))!;
    await db.knex('export_jobs').where({ id: stale.id }).update({ status: 'failed', error: 'lease expired' });
    await cli(['retry', 'exports', '--failed', '--now', NOW], { DATABASE_URL: db.url });
    const fresh = (await claimNext(db.knex, at(NOW), []))!;
    expect(fresh).toMatchObject({ id: stale.id, attempt: stale.attempt });
    const newer = await db.knex('export_jobs').where({ id: stale.id }).first();

    const done = { key: 'stale', link: { url: 'file:///stale', expiresAt: null }, bytes: 1, at: at(NOW), notifyAfter: at(NOW) };
    expect(await markComplete(db.knex, stale, done)).toBe(false);
    expect(await renewLease(db.knex, stale, at(NOW))).toBe(false);
    expect(await markFailedAttempt(db.knex, stale, 'stale', at(NOW))).toBe('lost');
    expect(await release(db.knex, stale, { charge: true })).toBe(false);
    expect(await db.knex('export_jobs').where({ id: stale.id }).first()).toEqual(newer);
    expect(await markComplete(db.knex, fresh, done)).toBe(true);
  });
});
