import type { Knex } from 'knex';
import { describe, expect } from 'vitest';
import { JOB_NAMES, jobEnvName } from '../src/core/catalog.js';
import { cli } from './support/cli.js';
import { test } from './support/db.js';
import { at, plusMs } from './support/factories.js';

const NOW = at('2025-06-01T12:00:00Z');
const MINUTE = 60_000;

/** A finished run of `job` that ended `agoMs` before NOW. */
async function recordRun(knex: Knex, job: string, agoMs: number, fields: Record<string, unknown> = {}) {
  const finished = plusMs(NOW, -agoMs);
  await knex('job_runs').insert({
    job,
    status: 'succeeded',
    started_at: plusMs(finished, -1000),
    finished_at: finished,
    ...fields,
  });
}

/** Every job turned off but the ones named, so a test judges only those. */
const only = (...jobs: string[]) =>
  Object.fromEntries(JOB_NAMES.filter((job) => !jobs.includes(job)).map((job) => [`JOB_${jobEnvName(job)}_ENABLED`, 'false']));

interface Health {
  healthy: boolean;
  jobs: { job: string; verdict: string; last_success_at: string | null; stale_after_seconds: number }[];
}

const check = async (db: { url: string }, env: Record<string, string> = {}) => {
  const run = await cli(['status', '--check', '--json', '--now', NOW.toISOString()], { DATABASE_URL: db.url, ...env });
  const health = run.json<Health>();
  return { code: run.code, health, verdict: (job: string) => health.jobs.find((j) => j.job === job)?.verdict };
};

describe('status: a job is stale when its last success is older than twice its schedule', () => {
  test('overdue (every 15 min): 30 min ago is ok, 30 min and 1 s ago is stale', async ({ db }) => {
    await recordRun(db.knex, 'overdue', 30 * MINUTE);
    const fresh = await check(db, only('overdue'));
    await db.knex('job_runs').update({ finished_at: plusMs(NOW, -30 * MINUTE - 1000) });
    const stale = await check(db, only('overdue'));

    expect(fresh).toMatchObject({ code: 0, health: { healthy: true } });
    expect(fresh.health.jobs.find((j) => j.job === 'overdue')).toMatchObject({
      verdict: 'ok',
      stale_after_seconds: 1800,
      last_success_at: plusMs(NOW, -30 * MINUTE).toISOString(),
    });
    expect(stale).toMatchObject({ code: 1, health: { healthy: false } });
    expect(stale.verdict('overdue')).toBe('stale');
  });

  test('only real successes count: failed, skipped and dry runs do not', async ({ db }) => {
    await recordRun(db.knex, 'cleanup-tokens', 5 * 3600_000);
    await recordRun(db.knex, 'cleanup-tokens', 10 * MINUTE, { status: 'failed' });
    await recordRun(db.knex, 'cleanup-tokens', 9 * MINUTE, { status: 'skipped' });
    await recordRun(db.knex, 'cleanup-tokens', 8 * MINUTE, { dry_run: true });

    const result = await check(db, only('cleanup-tokens'));

    expect(result.code).toBe(1);
    expect(result.verdict('cleanup-tokens')).toBe('stale');
  });

  test('a job with no success recorded is "never" (unhealthy); a disabled job is not judged', async ({ db }) => {
    await recordRun(db.knex, 'overdue', MINUTE);
    const result = await check(db, only('overdue', 'recurring'));

    expect(result.code).toBe(1);
    expect(result.verdict('recurring')).toBe('never');
    expect(result.verdict('overdue')).toBe('ok');
    expect(result.verdict('prune')).toBe('disabled');
  });

  test('the configured schedule sets the threshold: cleanup-tokens every 4 hours tolerates 5 hours', async ({ db }) => {
    await recordRun(db.knex, 'cleanup-tokens', 5 * 3600_000);
    const hourly = await check(db, only('cleanup-tokens'));
    const fourHourly = await check(db, { ...only('cleanup-tokens'), JOB_CLEANUP_TOKENS_SCHEDULE: '0 */4 * * *' });

    expect(hourly.verdict('cleanup-tokens')).toBe('stale');
    expect(fourHourly).toMatchObject({ code: 0 });
    expect(fourHourly.verdict('cleanup-tokens')).toBe('ok');
  });

  test('every job healthy: exit 0; without --check the verdict is shown but never fails the command', async ({ db }) => {
    for (const job of JOB_NAMES) await recordRun(db.knex, job, MINUTE);
    expect((await check(db)).code).toBe(0);

    await db.knex('job_runs').where({ job: 'prune' }).del();
    const text = await cli(['status', '--now', NOW.toISOString()], { DATABASE_URL: db.url });
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/^health: unhealthy \(prune never\)$/m);
    expect(text.stdout).toMatch(/^ {2}overdue +ok +last success 2025-06-01T11:59:00.000Z \(1m ago\); stale after 30m/m);
    const checked = await cli(['status', '--check', '--now', NOW.toISOString()], { DATABASE_URL: db.url });
    expect(checked.code).toBe(1);
  });

  test('a malformed schedule exits 78 naming the variable', async ({ db }) => {
    const run = await cli(['status', '--check'], { DATABASE_URL: db.url, JOB_REMINDERS_SCHEDULE: '*/0 * * * *' });
    expect(run.code).toBe(78);
    expect(run.stderr).toContain('JOB_REMINDERS_SCHEDULE is not a valid cron expression');
  });
});
