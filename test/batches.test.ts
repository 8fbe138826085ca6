import { PassThrough } from 'node:stream';
import type { Knex } from 'knex';
import { describe, expect } from 'vitest';
import { runSteps, type SerializedStep } from '../src/core/batches.js';
import { loadConfig } from '../src/core/config.js';
import { createLogger } from '../src/core/logger.js';
import { executeRun } from '../src/core/runner.js';
import { queryIds, sql } from '../src/core/sql.js';
import { cli, spawnCli } from './support/cli.js';
import { test, type TestDatabase } from './support/db.js';
import { at, createTask, createTasks, createUser, plusMs } from './support/factories.js';

const NOW = '2025-06-01T12:00:00.000Z';
const now = at(NOW);
const DAY = 86_400_000;

const lastRun = (knex: Knex) => knex('job_runs').orderBy('id', 'desc').first();
const parked = (knex: Knex) => knex('parked_items').orderBy('item_id').select('job', 'item_id', 'step', 'reason');
const childOf = (knex: Knex, id: string) => knex('tasks').where({ recurrence_parent_id: id }).first();

/** A completed daily task of `userId`, due `due` (any timestamptz text, '-infinity' included). */
const completedRecurring = async (knex: Knex, userId: string, title: string, due: string) =>
  (
    await knex('tasks')
      .insert({
        user_id: userId,
        title,
        due_date: knex.raw('?::timestamptz', [due]),
        completed: true,
        completed_at: plusMs(now, -DAY),
        is_recurring: true,
        recurrence_type: 'daily',
      })
      .returning('id')
  )[0].id as string;

/** A trigger refusing, with a check violation, the updates of `table` rows that match `condition` (as an API-side rule would). */
async function refuseUpdates(knex: Knex, table: string, condition: string) {
  await knex.raw(`
    CREATE FUNCTION refuse_update() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF ${condition} THEN RAISE EXCEPTION 'row % refused by a trigger', NEW.id USING ERRCODE = 'check_violation'; END IF;
      RETURN NEW;
    END $$;
    CREATE TRIGGER refuse_update BEFORE UPDATE ON ${table} FOR EACH ROW EXECUTE FUNCTION refuse_update();`);
}

/** Runs `job` in this process, on the test's database, the way the CLI does. */
async function runJob(db: TestDatabase, run: (ctx: Parameters<typeof runSteps>[0]) => Promise<void>) {
  const config = loadConfig({ DATABASE_URL: db.url });
  const log = createLogger({ level: 'warn', stream: new PassThrough(), pretty: false });
  const options = { now, nowFixed: true, dryRun: false, batchSize: 100, maxRuntimeSeconds: 60 };
  return executeRun({ name: 'overdue', run }, { knex: db.knex, config, log }, options);
}

describe('batches: a serialized step gets its re-check from the mechanism', () => {
  test('a claimed row that stops being eligible before the apply is not changed, though the apply names no condition', async ({
    db,
  }) => {
    const [moved, late] = [
      await createTask(db.knex, { due_date: plusMs(now, -1000) }),
      await createTask(db.knex, { due_date: plusMs(now, -2000) }),
    ];
    const step: SerializedStep = {
      name: 'marked_overdue',
      eligible: {
        table: 'tasks',
        where: (ctx) => sql`status = 'open' AND due_date < ${ctx.now}`,
        cursor: { column: 'due_date', type: 'timestamptz' },
      },
      async apply(trx, _ctx, target) {
        // The API moves one claimed task to tomorrow between the claim and the apply.
        await trx('tasks')
          .where({ id: moved.id })
          .update({ due_date: plusMs(now, DAY) });
        return {
          done: await queryIds(trx, sql`UPDATE tasks SET status = 'overdue', overdue_at = ${now} WHERE ${target} RETURNING id`),
        };
      },
    };

    const { summary } = await runJob(db, (ctx) => runSteps(ctx, [step], 'serialized'));

    expect(summary).toMatchObject({ status: 'succeeded', processed: 1, ids: { marked_overdue: [late.id] } });
    expect(await db.knex('tasks').where({ id: moved.id }).first()).toMatchObject({ status: 'open' });
  });
});

describe('batches: one bad batch never blocks a queue', () => {
  test('recurring --batch-size 2 with due dates -infinity and infinity: the good task is processed, the bad ones fail alone and are parked', async ({
    db,
  }) => {
    const user = await createUser(db.knex);
    const past = await completedRecurring(db.knex, user.id, 'minus infinity', '-infinity');
    const future = await completedRecurring(db.knex, user.id, 'plus infinity', 'infinity');
    const good = await completedRecurring(db.knex, user.id, 'good', '2025-05-31T09:00:00Z');
    const env = { DATABASE_URL: db.url };

    const first = await spawnCli(['recurring', '--batch-size', '2', '--now', NOW, '--json'], env).done;

    expect(first.code).toBe(1);
    expect(first.json()).toMatchObject({
      status: 'failed',
      processed: 1,
      failed: 2,
      counts: { instances_created: 1, parked: 2 },
    });
    expect(await childOf(db.knex, good)).toBeDefined();
    // One short sentence per reason, no statement anywhere: not on stderr, stdout or in job_runs.
    for (const text of [first.stderr, first.stdout, JSON.stringify(await lastRun(db.knex))]) {
      expect(text).not.toMatch(/SELECT|INSERT|WITH |\$\d/);
    }
    expect(first.stderr.trim().split('\n').length).toBeLessThan(10);
    const reasons = (await lastRun(db.knex)).details.failures;
    expect(reasons.map((failure: { id: string }) => failure.id).sort()).toEqual([past, future].sort());
    for (const { reason } of reasons) expect(reason).toMatch(/^[^\n]{1,200}$/);
    expect(await parked(db.knex)).toEqual(
      [past, future]
        .sort()
        .map((id) => ({ job: 'recurring', item_id: id, step: 'instances_created', reason: expect.any(String) })),
    );

    // The next runs leave them out: green, nothing retried, until the park ends.
    const next = await cli(['recurring', '--now', plusMs(now, 300_000).toISOString(), '--json'], env);
    expect(next.code).toBe(0);
    expect(next.json()).toMatchObject({ status: 'succeeded', failed: 0, counts: { still_parked: 2 } });
    const dayLater = await cli(['recurring', '--now', plusMs(now, DAY + 1000).toISOString(), '--json'], env);
    expect(dayLater.json()).toMatchObject({ failed: 2, counts: { parked: 2 } });
  });

  test('--dry-run parks nothing', async ({ db }) => {
    const user = await createUser(db.knex);
    await completedRecurring(db.knex, user.id, 'minus infinity', '-infinity');
    const run = await cli(['--dry-run', 'recurring', '--now', NOW, '--json'], { DATABASE_URL: db.url });
    expect(run.json()).toMatchObject({ failed: 1 });
    expect(await parked(db.knex)).toEqual([]);
  });

  test('overdue: two refused tasks first in due order, then a good one, --batch-size 2: the good one is marked', async ({
    db,
  }) => {
    const user = await createUser(db.knex);
    await createTasks(db.knex, 2, { user_id: user.id, title: 'refused', due_date: plusMs(now, -60_000) });
    const good = await createTask(db.knex, { user_id: user.id, due_date: plusMs(now, -1000) });
    await refuseUpdates(db.knex, 'tasks', "NEW.title = 'refused'");

    const run = await cli(['overdue', '--now', NOW, '--batch-size', '2', '--json'], { DATABASE_URL: db.url });

    expect(run.code).toBe(1);
    expect(run.json()).toMatchObject({
      status: 'failed',
      processed: 1,
      failed: 2,
      ids: { marked_overdue: [good.id] },
      counts: { parked: 2 },
    });
    expect(await parked(db.knex)).toHaveLength(2);
    const next = await cli(['overdue', '--now', NOW, '--json'], { DATABASE_URL: db.url });
    expect(next.json()).toMatchObject({ status: 'succeeded', failed: 0, counts: { still_parked: 2 } });
  });

  test('rollover: two refused users first in claim order, then a good one, --batch-size 2: the good one is closed', async ({
    db,
  }) => {
    const yesterday = '2025-05-30';
    const ids = [
      '00000000-0000-4000-8000-000000000001',
      '00000000-0000-4000-8000-000000000002',
      'ffffffff-ffff-4fff-8fff-ffffffffffff',
    ];
    for (const [i, id] of ids.entries())
      await createUser(db.knex, { id, last_rollover_date: yesterday, display_name: i < 2 ? 'refused' : 'good' });
    await refuseUpdates(db.knex, 'users', "NEW.display_name = 'refused'");

    const run = await cli(['rollover', '--now', NOW, '--batch-size', '2', '--json'], { DATABASE_URL: db.url });

    expect(run.code).toBe(1);
    expect(run.json()).toMatchObject({ processed: 1, failed: 2, ids: { rolled_over: [ids[2]] } });
    expect((await parked(db.knex)).map((row) => row.item_id)).toEqual(ids.slice(0, 2));
  });

  test('a systemic fault (the calendar function is missing) stops the run at once and parks nothing', async ({ db }) => {
    const user = await createUser(db.knex);
    for (const title of ['a', 'b', 'c']) await completedRecurring(db.knex, user.id, title, '2025-05-31T09:00:00Z');
    await db.knex.raw('DROP FUNCTION recurrence_next_due CASCADE');

    const run = await cli(['recurring', '--now', NOW, '--batch-size', '2', '--json'], { DATABASE_URL: db.url });

    expect(run.code).toBe(1);
    expect(run.json()).toMatchObject({
      status: 'failed',
      processed: 0,
      failed: 0,
      error: expect.stringContaining('recurrence_next_due'),
    });
    expect(run.json<{ error: string }>().error).not.toMatch(/SELECT|WITH /);
    expect((await lastRun(db.knex)).details.error).toMatchObject({
      code: '42883',
      context: { step: 'instances_created', batch_size: 2 },
    });
    expect(await parked(db.knex)).toEqual([]);
  });
});

/**
 * Index entries a run read from the claim's index, while another session holds a snapshot: each
 * changed row then leaves a dead entry that no one can remove, and a claim that restarts from
 * the index's start reads all of them again (about rows² / 2 / batch size in all). Analysed
 * first, so that the claims read the index as they do on a big table.
 */
async function indexEntriesRead(db: TestDatabase, index: string, args: string[]): Promise<number> {
  await db.knex.raw('VACUUM ANALYZE');
  const read = async () =>
    Number((await db.knex('pg_stat_user_indexes').where({ indexrelname: index }).first('idx_tup_read')).idx_tup_read);
  const before = await read();
  const snapshot = await db.knex.transaction({ isolationLevel: 'repeatable read' });
  try {
    await snapshot('users').count();
    const run = await cli([...args, '--now', NOW, '--batch-size', '5', '--json'], { DATABASE_URL: db.url });
    expect(run.json()).toMatchObject({ status: 'succeeded', processed: 60 });
  } finally {
    await snapshot.rollback();
  }
  // The run's backends report their counters when they exit, just after its connections close.
  let after = await read();
  for (let tries = 0; tries < 50 && after === before; tries++) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    after = await read();
  }
  return after - before;
}

describe('batches: claims continue from their last key (flat cost while a snapshot is held)', () => {
  test('overdue: 60 tasks in batches of 5 read about 60 entries of tasks_open_due_idx, not 330', async ({ db }) => {
    const user = await createUser(db.knex);
    for (let i = 0; i < 60; i++) await createTask(db.knex, { user_id: user.id, due_date: plusMs(now, -60_000 * (i + 1)) });
    expect(await indexEntriesRead(db, 'tasks_open_due_idx', ['overdue'])).toBeLessThan(150);
  });

  test('recurring: 60 tasks in batches of 5 read about 60 entries of tasks_recurring_pending_idx', async ({ db }) => {
    const user = await createUser(db.knex);
    for (let i = 0; i < 60; i++) await completedRecurring(db.knex, user.id, `t${i}`, '2025-05-31T09:00:00Z');
    await db.knex('tasks').update({ completed_at: db.knex.raw("completed_at - (random() * 1000)::int * interval '1 second'") });
    expect(await indexEntriesRead(db, 'tasks_recurring_pending_idx', ['recurring'])).toBeLessThan(150);
  });

  test('rollover: 60 users of one zone in batches of 5 read about 60 entries of users_rollover_due_idx', async ({ db }) => {
    for (let i = 0; i < 60; i++) await createUser(db.knex, { timezone: 'Europe/Paris', last_rollover_date: '2025-05-30' });
    expect(await indexEntriesRead(db, 'users_rollover_due_idx', ['rollover'])).toBeLessThan(150);
  });
});

describe('claims: the unique index on recurrence_parent_id holds only generated children', () => {
  test('partial (WHERE NOT NULL), the only unique index on the column, and still refuses a second child', async ({ db }) => {
    const indexes = await db
      .knex('pg_indexes')
      .where({ tablename: 'tasks' })
      .andWhereLike('indexdef', '%(recurrence_parent_id)%')
      .pluck('indexdef');
    expect(indexes).toEqual([expect.stringMatching(/^CREATE UNIQUE INDEX .* WHERE \(recurrence_parent_id IS NOT NULL\)$/)]);
    const parent = await createTask(db.knex);
    await createTask(db.knex, { user_id: parent.user_id, recurrence_parent_id: parent.id });
    await expect(createTask(db.knex, { user_id: parent.user_id, recurrence_parent_id: parent.id })).rejects.toThrow(/unique/);
  });
});
