import type { Knex } from 'knex';
import { describe, expect } from 'vitest';
import { cli, spawnCli } from './support/cli.js';
import { test } from './support/db.js';
import { at, createTask, createTasks, createUser, plusMs } from './support/factories.js';

const NOW = '2025-06-01T12:00:00.000Z';
const now = at(NOW);
const late = plusMs(now, -60_000);

/** A real database fault on chosen rows (as an API-side trigger or constraint would raise). */
async function refuseOverdue(knex: Knex, condition: string) {
  await knex.raw(`
    CREATE FUNCTION refuse_overdue() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF NEW.status = 'overdue' AND (${condition}) THEN
        RAISE EXCEPTION 'task % refused by a trigger', NEW.id USING ERRCODE = 'check_violation';
      END IF;
      RETURN NEW;
    END $$;
    CREATE TRIGGER refuse_overdue BEFORE UPDATE ON tasks FOR EACH ROW EXECUTE FUNCTION refuse_overdue();`);
}

/** Every marked row costs `seconds`, so a run is slow enough to interrupt. */
async function slowDown(knex: Knex, seconds: number) {
  await knex.raw(`
    CREATE FUNCTION slow_update() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN PERFORM pg_sleep(${seconds}); RETURN NEW; END $$;
    CREATE TRIGGER slow_update BEFORE UPDATE ON tasks FOR EACH ROW EXECUTE FUNCTION slow_update();`);
}

const lastRun = (knex: Knex) => knex('job_runs').orderBy('id', 'desc').first();

describe('runner: a failing item is recorded and the rest go on', () => {
  test('one refused task: exit 1, the other tasks committed, job_runs names the task and the reason', async ({ db }) => {
    const user = await createUser(db.knex);
    await createTasks(db.knex, 4, { user_id: user.id, due_date: late });
    const poison = await createTask(db.knex, { user_id: user.id, due_date: late, title: 'poison' });
    await refuseOverdue(db.knex, "NEW.title = 'poison'");

    const run = await cli(['overdue', '--now', NOW, '--json'], { DATABASE_URL: db.url });

    expect(run.code).toBe(1);
    expect(run.json()).toMatchObject({ status: 'failed', processed: 4, failed: 1 });
    expect(await db.knex('tasks').where({ status: 'overdue' }).count({ n: '*' })).toEqual([{ n: '4' }]);
    const recorded = await lastRun(db.knex);
    expect(recorded).toMatchObject({ job: 'overdue', status: 'failed', processed: 4, failed: 1 });
    expect(recorded.details.failures).toEqual([{ id: poison.id, reason: expect.stringContaining('refused by a trigger') }]);
    expect(run.logs().some((line) => line.level === 40 && line.id === poison.id && line.runId === recorded.id)).toBe(true);
  });

  test('when every item of a batch fails alike, the fault is not in the data: the run stops with the error', async ({ db }) => {
    await createTasks(db.knex, 3, { due_date: late });
    await refuseOverdue(db.knex, 'true');

    const run = await cli(['overdue', '--now', NOW, '--json'], { DATABASE_URL: db.url });

    expect(run.code).toBe(1);
    expect(run.json()).toMatchObject({ status: 'failed', processed: 0, error: expect.stringContaining('refused by a trigger') });
    const recorded = await lastRun(db.knex);
    expect(recorded.details.error).toMatchObject({ code: '23514', context: { step: 'marked_overdue', batch_size: 3 } });
    expect(await db.knex('tasks').where({ status: 'overdue' }).count({ n: '*' })).toEqual([{ n: '0' }]);
  });
});

describe('runner: job_runs records each run with what it touched', () => {
  test('counts, ids, host, duration and the replayed now', async ({ db }) => {
    const task = await createTask(db.knex, { due_date: late });
    const run = await cli(['overdue', '--now', NOW, '--json'], { DATABASE_URL: db.url });
    const recorded = await lastRun(db.knex);

    expect(recorded).toMatchObject({
      job: 'overdue',
      status: 'succeeded',
      dry_run: false,
      processed: 1,
      failed: 0,
      host: expect.any(String),
    });
    expect(recorded.finished_at.getTime()).toBeGreaterThanOrEqual(recorded.started_at.getTime());
    expect(recorded.details).toMatchObject({ counts: { marked_overdue: 1 }, ids: { marked_overdue: [task.id] }, now: NOW });
    expect(run.json()).toMatchObject({ run_id: recorded.id, duration_ms: expect.any(Number) });
  });

  test('many affected rows: a sample of the ids and the full count', async ({ db }) => {
    await createTasks(db.knex, 150, { due_date: late });
    await cli(['overdue', '--now', NOW], { DATABASE_URL: db.url });
    const { details } = await lastRun(db.knex);

    expect(details.ids.marked_overdue).toHaveLength(100);
    expect(details.ids_sampled).toEqual({ marked_overdue: 150 });
  });

  test('logs the start and the end of the run as JSON lines on stderr, the summary alone on stdout', async ({ db }) => {
    await createTask(db.knex, { due_date: late });
    const run = await cli(['overdue', '--now', NOW, '--json'], { DATABASE_URL: db.url });
    const lines = run.logs();

    expect(lines.map((line) => line.msg)).toEqual(expect.arrayContaining(['overdue started', 'overdue succeeded']));
    expect(lines.every((line) => line.job === 'overdue' && typeof line.runId === 'string')).toBe(true);
    // The start line says which database the run works on, never with its credentials.
    expect(lines.find((line) => line.msg === 'overdue started')?.database).toMatch(/^\w+ on [\w.-]+:\d+$/);
    expect(run.stdout.trim().split('\n')).toHaveLength(1);
  });
});

describe('runner: the time budget', () => {
  test('--max-runtime stops claiming new batches; what committed stays; the next run continues', async ({ db }) => {
    await createTasks(db.knex, 12, { due_date: late });
    await slowDown(db.knex, 0.25);

    const run = await cli(['overdue', '--now', NOW, '--batch-size', '2', '--max-runtime', '1', '--json'], {
      DATABASE_URL: db.url,
    });

    const summary = run.json<{ processed: number; reason: string; status: string }>();
    expect(run.code).toBe(0);
    expect(summary).toMatchObject({ status: 'succeeded', reason: 'time budget spent' });
    expect(summary.processed).toBeGreaterThan(0);
    expect(summary.processed).toBeLessThan(12);
    expect(summary.processed % 2).toBe(0);
    const rest = await cli(['overdue', '--now', NOW, '--json'], { DATABASE_URL: db.url });
    expect(rest.json()).toMatchObject({ processed: 12 - summary.processed });
  });
});

describe('runner: SIGTERM ends the run promptly and cleanly', () => {
  test('the current batch finishes, nothing is half-written, the run is recorded as interrupted, exit 1', async ({ db }) => {
    await createTasks(db.knex, 200, { due_date: late });
    await slowDown(db.knex, 0.02);
    const run = spawnCli(['overdue', '--now', NOW, '--batch-size', '10'], { DATABASE_URL: db.url, LOG_LEVEL: 'debug' });
    await run.waitFor('batch committed');
    const signalled = Date.now();
    run.child.kill('SIGTERM');
    const result = await run.done;

    expect(result.code).toBe(1);
    expect(Date.now() - signalled).toBeLessThan(10_000);
    expect(result.stdout).toContain('interrupted');
    const marked = Number((await db.knex('tasks').where({ status: 'overdue' }).count({ n: '*' }))[0].n);
    expect(marked % 10).toBe(0);
    expect(marked).toBeLessThan(200);
    expect(await lastRun(db.knex)).toMatchObject({
      status: 'failed',
      processed: marked,
      details: expect.objectContaining({ reason: 'interrupted' }),
    });
  });
});

describe('runner: light on the database', () => {
  test('a run holds at most two connections (one for batches, one for job_runs)', async ({ db }) => {
    await createTasks(db.knex, 40, { due_date: late });
    await slowDown(db.knex, 0.02);
    const run = cli(['overdue', '--now', NOW, '--batch-size', '5'], { DATABASE_URL: db.url });
    let most = 0;
    for (let i = 0; i < 20; i++) {
      const [{ n }] = await db
        .knex('pg_stat_activity')
        .where({ application_name: 'planner-jobs:overdue', datname: db.name })
        .count({ n: '*' });
      most = Math.max(most, Number(n));
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    expect((await run).code).toBe(0);
    expect(most).toBeGreaterThan(0);
    expect(most).toBeLessThanOrEqual(2);
  });
});
