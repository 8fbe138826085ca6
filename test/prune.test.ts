import type { Knex } from 'knex';
import { describe, expect } from 'vitest';
import { cli } from './support/cli.js';
import { test } from './support/db.js';
import { at, createUser, plusMs } from './support/factories.js';

const NOW = at('2025-06-01T12:00:00Z');
const DAY = 86_400_000;

async function run(knex: Knex, startedDaysAgo: number, fields: Record<string, unknown> = {}) {
  const started = plusMs(NOW, -startedDaysAgo * DAY);
  const [row] = await knex('job_runs')
    .insert({ job: 'overdue', status: 'succeeded', started_at: started, finished_at: plusMs(started, 1000), ...fields })
    .returning('id');
  return String(row.id);
}

async function notification(knex: Knex, userId: string, status: string, sentDaysAgo: number | null) {
  const sent_at = sentDaysAgo === null ? null : plusMs(NOW, -sentDaysAgo * DAY);
  const [row] = await knex('notifications').insert({ user_id: userId, title: 't', status, sent_at }).returning('id');
  return row.id as string;
}

const ids = async (knex: Knex, table: string) => (await knex(table).pluck('id')).map(String).sort();

describe('prune: job_runs and sent notifications older than RETENTION_DAYS (default 90) are deleted', () => {
  test('runs that started before the cutoff go, whatever their status; later ones and the current run stay', async ({ db }) => {
    const old = await run(db.knex, 90.01);
    const deadRunning = await run(db.knex, 200, { status: 'running', finished_at: null });
    const kept = await run(db.knex, 89.99);

    const result = await cli(['prune', '--now', NOW.toISOString(), '--json'], { DATABASE_URL: db.url });

    expect(result.code).toBe(0);
    expect(result.json()).toMatchObject({ status: 'succeeded', processed: 2, counts: { job_runs_deleted: 2 } });
    expect(result.json<{ ids: Record<string, string[]> }>().ids.job_runs_deleted.sort()).toEqual([old, deadRunning].sort());
    const remaining = await ids(db.knex, 'job_runs');
    expect(remaining).toContain(kept);
    expect(remaining).toContain(String(result.json().run_id));
    expect(remaining).toHaveLength(2);
  });

  test('only sent notifications past the cutoff go (with their deliveries); failed, pending and recent ones stay', async ({
    db,
  }) => {
    const user = await createUser(db.knex);
    const oldSent = await notification(db.knex, user.id, 'sent', 91);
    await db.knex('notification_deliveries').insert({ notification_id: oldSent, channel: 'web', outcome: 'delivered' });
    const keep = [
      await notification(db.knex, user.id, 'sent', 89),
      await notification(db.knex, user.id, 'failed', null),
      await notification(db.knex, user.id, 'pending', null),
    ];
    await db
      .knex('notifications')
      .where({ id: keep[1] })
      .update({ created_at: plusMs(NOW, -400 * DAY) });

    const result = await cli(['prune', '--now', NOW.toISOString(), '--json'], { DATABASE_URL: db.url });

    expect(result.json()).toMatchObject({ processed: 1, counts: { notifications_deleted: 1 } });
    expect(await ids(db.knex, 'notifications')).toEqual([...keep].sort());
    expect(await db.knex('notification_deliveries').count({ n: '*' })).toEqual([{ n: '0' }]);
  });

  test('RETENTION_DAYS moves the cutoff; small batches get through everything; a rerun deletes nothing', async ({ db }) => {
    for (let i = 0; i < 7; i++) await run(db.knex, 10 + i);
    await run(db.knex, 5);
    const env = { DATABASE_URL: db.url, RETENTION_DAYS: '7' };

    const first = await cli(['prune', '--now', NOW.toISOString(), '--batch-size', '3', '--json'], env);
    const again = await cli(['prune', '--now', NOW.toISOString(), '--json'], env);

    expect(first.json()).toMatchObject({ processed: 7 });
    expect(again.json()).toMatchObject({ processed: 0 });
    expect(
      await db
        .knex('job_runs')
        .where('started_at', '<', plusMs(NOW, -7 * DAY))
        .count({ n: '*' }),
    ).toEqual([{ n: '0' }]);
  });

  test('a malformed RETENTION_DAYS exits 78 naming it', async ({ db }) => {
    const result = await cli(['prune'], { DATABASE_URL: db.url, RETENTION_DAYS: 'forever' });
    expect(result.code).toBe(78);
    expect(result.stderr).toContain('RETENTION_DAYS must be a whole number');
  });
});
