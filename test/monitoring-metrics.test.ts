import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect } from 'vitest';
import { alertGroups } from '../k8s/monitoring/rules.js';
import { JOB_NAMES } from '../src/core/catalog.js';
import { readQueueState } from '../src/core/queueState.js';
import { cli } from './support/cli.js';
import { dashboardQueries, readDashboard } from './support/dashboard.js';
import { test } from './support/db.js';
import { createTask, createUser, plusMs } from './support/factories.js';
import { parsePrometheusText, type Sample } from './support/promtext.js';
import { NO_PROMTOOL, PROMTOOL, matches, promtool, selectorsOf } from './support/promtool.js';

const tempDirs: string[] = [];
afterEach(async () => {
  for (const dir of tempDirs.splice(0)) await fs.rm(dir, { recursive: true, force: true });
});
async function tempDir() {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'planner-jobs-monitoring-'));
  tempDirs.push(dir);
  return dir;
}

const value = (samples: Sample[], name: string, labels: Record<string, string>) =>
  samples.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value;

/** Every job of the catalog runs once for real against PostgreSQL, with work for the queue jobs, writing one METRICS_FILE. */
async function runEveryJob(db: { knex: import('knex').Knex; url: string }) {
  const dir = await tempDir();
  const file = path.join(dir, 'planner-jobs.prom');
  const user = await createUser(db.knex);
  await createTask(db.knex, { user_id: user.id, due_date: plusMs(new Date(), -60_000) });
  await db.knex('export_jobs').insert({ user_id: user.id, format: 'json' });
  await db.knex('notifications').insert({ user_id: user.id, title: 'due now' });
  await db.knex('notifications').insert({ user_id: user.id, title: 'later', run_after: plusMs(new Date(), 3_600_000) });
  const env = { DATABASE_URL: db.url, METRICS_FILE: file, EXPORT_STORAGE: 'file', EXPORT_DIR: path.join(dir, 'exports') };
  for (const job of JOB_NAMES) {
    const run = await cli([job], env);
    expect(run.code, `${job}: ${run.stderr}`).toBe(0);
  }
  return { file, env };
}

describe('metrics: a real run of every job writes a METRICS_FILE that carries every series the rules and the dashboard use', () => {
  test('promtool check metrics accepts it; every selector of every rule and panel finds a series', async ({ db, skip }) => {
    const { file } = await runEveryJob(db);
    const text = await fs.readFile(file, 'utf8');
    const { samples } = parsePrometheusText(text);

    const queries = [...alertGroups().flatMap((g) => g.rules.map((r) => r.expr)), ...dashboardQueries(await readDashboard())];
    for (const query of queries)
      for (const selector of selectorsOf(query))
        expect(
          samples.some((s) => matches(selector, s)),
          `no series for ${JSON.stringify(selector)} of ${query}`,
        ).toBe(true);

    expect(value(samples, 'planner_jobs_last_run_items', { planner_job: 'exports', counter: 'exported' })).toBe(1);
    expect(value(samples, 'planner_jobs_last_run_bytes', { planner_job: 'exports' })).toBeGreaterThan(0);
    expect(value(samples, 'planner_jobs_last_run_processed', { planner_job: 'overdue' })).toBe(1);
    expect(value(samples, 'planner_jobs_queue_items', { planner_job: 'notifications', status: 'pending' })).toBe(1); // the later one
    expect(value(samples, 'planner_jobs_queue_oldest_due_age_seconds', { planner_job: 'notifications' })).toBe(0);
    expect(value(samples, 'planner_jobs_schedule_period_seconds', { planner_job: 'overdue' })).toBe(900);
    expect(value(samples, 'planner_jobs_enabled', { planner_job: 'prune' })).toBe(1);

    if (!PROMTOOL) return skip(NO_PROMTOOL);
    const check = promtool(['check', 'metrics'], text);
    expect(check.code, check.output).toBe(0);
    expect(check.output.trim()).toBe(''); // no lint findings either
  });

  test('a turned-off job reports planner_jobs_enabled 0 and keeps its last run and success', async ({ db }) => {
    const { file, env } = await runEveryJob(db);
    const before = parsePrometheusText(await fs.readFile(file, 'utf8')).samples;

    const off = await cli(['prune'], { ...env, JOB_PRUNE_ENABLED: 'false' });

    expect(off.code).toBe(0);
    const after = parsePrometheusText(await fs.readFile(file, 'utf8')).samples;
    expect(value(after, 'planner_jobs_enabled', { planner_job: 'prune' })).toBe(0);
    const success = { planner_job: 'prune' };
    expect(value(after, 'planner_jobs_last_success_timestamp_seconds', success)).toBe(
      value(before, 'planner_jobs_last_success_timestamp_seconds', success),
    );
    expect(value(after, 'planner_jobs_enabled', { planner_job: 'overdue' })).toBe(1);
  });

  test("a run replaces its job's counters: one the run did not count is not left from the run before", async ({ db }) => {
    const { file, env } = await runEveryJob(db);
    const overdueOnce = value(parsePrometheusText(await fs.readFile(file, 'utf8')).samples, 'planner_jobs_last_run_items', {
      planner_job: 'overdue',
      counter: 'marked_overdue',
    });

    await cli(['overdue'], env);

    const after = parsePrometheusText(await fs.readFile(file, 'utf8')).samples;
    expect(overdueOnce).toBe(1);
    expect(value(after, 'planner_jobs_last_run_items', { planner_job: 'overdue', counter: 'marked_overdue' })).toBeUndefined();
    expect(value(after, 'planner_jobs_last_run_items', { planner_job: 'exports', counter: 'exported' })).toBe(1);
  });
});

describe('queue state: depth and the oldest due wait, read at the end of a queue job run', () => {
  test('notifications: pending and processing counted; the oldest due pending row gives the wait; sent and future rows do not', async ({
    db,
  }) => {
    const user = await createUser(db.knex);
    const ago = (ms: number) => plusMs(new Date(), -ms);
    await db.knex('notifications').insert([
      { user_id: user.id, title: 'waiting 15 min', created_at: ago(900_000), run_after: ago(900_000) },
      { user_id: user.id, title: 'retried, due again 5 min ago', created_at: ago(7_200_000), run_after: ago(300_000) },
      { user_id: user.id, title: 'not due yet', run_after: plusMs(new Date(), 600_000) },
      { user_id: user.id, title: 'leased', status: 'processing', locked_until: plusMs(new Date(), 60_000) },
      { user_id: user.id, title: 'sent long ago', status: 'sent', created_at: ago(86_400_000), sent_at: ago(86_400_000) },
    ]);

    const state = await readQueueState(db.knex, 'notifications');

    expect(state!.items).toEqual({ pending: 3, processing: 1 });
    expect(state!.oldestDueAgeSeconds).toBeGreaterThanOrEqual(900);
    expect(state!.oldestDueAgeSeconds).toBeLessThan(960);
  });

  test('exports: the same from export_jobs; an empty queue waits 0 s; a job without a queue has none', async ({ db }) => {
    const user = await createUser(db.knex);
    expect(await readQueueState(db.knex, 'exports')).toEqual({ items: { pending: 0, processing: 0 }, oldestDueAgeSeconds: 0 });
    await db.knex('export_jobs').insert({ user_id: user.id, format: 'csv', created_at: plusMs(new Date(), -120_000) });

    const state = await readQueueState(db.knex, 'exports');

    expect(state!.items).toEqual({ pending: 1, processing: 0 });
    expect(state!.oldestDueAgeSeconds).toBeGreaterThanOrEqual(120);
    expect(await readQueueState(db.knex, 'overdue')).toBeUndefined();
  });
});
