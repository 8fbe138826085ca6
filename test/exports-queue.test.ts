import { afterAll, beforeAll, describe, expect } from 'vitest';
import { claimNext } from '../src/jobs/exports/claim.js';
import { markComplete, markFailedAttempt, release, renewLease } from '../src/jobs/exports/finish.js';
import { cli } from './support/cli.js';
import { test } from './support/db.js';
import { at, createUser, plusMs } from './support/factories.js';
import { seedPlanner, unserializableFor } from './support/exports.js';
import { startS3, type S3Server } from './support/s3.js';

const NOW = '2025-06-01T12:00:00.000Z';
const now = at(NOW);
let s3: S3Server;

beforeAll(async () => {
  s3 = await startS3();
});
afterAll(() => s3.close());

const queue = async (knex: import('knex').Knex, userId: string, format = 'json', fields: Record<string, unknown> = {}) => {
  const [job] = await knex('export_jobs')
    .insert({ user_id: userId, format, ...fields })
    .returning('*');
  return job;
};
const jobRow = (knex: import('knex').Knex, id: string) => knex('export_jobs').where({ id }).first();

describe('exports: a pending job becomes complete, with a link, its size and one notification', () => {
  test('complete, bytes, completed_at, url_expires_at = now + TTL; one export notification even on rerun', async ({ db }) => {
    const { user } = await seedPlanner(db.knex, 'alice');
    const job = await queue(db.knex, user.id, 'markdown');

    const run = await cli(['exports', '--now', NOW, '--json'], {
      DATABASE_URL: db.url,
      ...s3.env,
      EXPORT_URL_TTL_SECONDS: '600',
    });
    const rerun = await cli(['exports', '--now', NOW, '--json'], { DATABASE_URL: db.url, ...s3.env });

    expect(run.code, run.stderr).toBe(0);
    expect(run.json()).toMatchObject({ status: 'succeeded', processed: 1, counts: { exported: 1 }, ids: { exported: [job.id] } });
    expect(rerun.json()).toMatchObject({ processed: 0 });
    const done = await jobRow(db.knex, job.id);
    expect(done).toMatchObject({
      status: 'complete',
      attempts: 1,
      error: null,
      locked_until: null,
      object_key: `exports/${user.id}/${job.id}.md`,
    });
    expect(done.completed_at.getTime() - now.getTime()).toBeLessThan(10_000);
    expect(done.url_expires_at.getTime() - done.completed_at.getTime()).toBe(600_000);
    expect(Number(done.bytes)).toBe((await s3.body(done.object_key)).length);
    const notes = await db.knex('notifications').where({ user_id: user.id, source: 'export' });
    expect(notes).toHaveLength(1);
    expect(notes[0]).toMatchObject({ dedupe_key: `export:${job.id}`, url: done.download_url, status: 'pending', run_after: now });
  });
});

describe('exports: the presigned link answers before its expiry and not after', () => {
  test('200 with the export before, 403 after (a 2-second TTL, a bounded real wait)', async ({ db }) => {
    const { user } = await seedPlanner(db.knex, 'alice');
    const job = await queue(db.knex, user.id, 'json');
    const run = await cli(['exports'], { DATABASE_URL: db.url, ...s3.env, EXPORT_URL_TTL_SECONDS: '2' });
    expect(run.code, run.stderr).toBe(0);
    const { download_url: url, url_expires_at: expiresAt } = await jobRow(db.knex, job.id);

    const before = await fetch(url);
    expect(before.status).toBe(200);
    expect((await before.json()).user_id).toBe(user.id);
    await new Promise((resolve) => setTimeout(resolve, Math.min(4000, expiresAt.getTime() - Date.now() + 1100)));
    expect((await fetch(url)).status).toBe(403);
  });
});

describe('exports: the link never outlives the credentials that signed it', () => {
  test('temporary credentials expiring in 2 minutes cap a 15-minute TTL at 2 minutes', async ({ db }) => {
    const { user } = await seedPlanner(db.knex, 'alice');
    const job = await queue(db.knex, user.id, 'json');
    const credentialsExpire = new Date(Date.now() + 120_000);
    process.env.AWS_CREDENTIAL_EXPIRATION = credentialsExpire.toISOString();
    try {
      const run = await cli(['exports'], { DATABASE_URL: db.url, ...s3.env, EXPORT_URL_TTL_SECONDS: '900' });
      expect(run.code, run.stderr).toBe(0);
    } finally {
      delete process.env.AWS_CREDENTIAL_EXPIRATION;
    }
    const { url_expires_at: expiresAt } = await jobRow(db.knex, job.id);
    expect(expiresAt.getTime()).toBeLessThanOrEqual(credentialsExpire.getTime());
    expect(expiresAt.getTime()).toBeGreaterThan(credentialsExpire.getTime() - 10_000);
  });
});

describe('exports: retries overwrite, never duplicate', () => {
  test('a job retried after a lost lease leaves one object under its deterministic key', async ({ db }) => {
    const { user } = await seedPlanner(db.knex, 'alice');
    const job = await queue(db.knex, user.id, 'csv');
    await cli(['exports', '--now', NOW], { DATABASE_URL: db.url, ...s3.env });
    // As if that run had died before recording its result: the lease expires and the next run redoes it.
    await db
      .knex('export_jobs')
      .where({ id: job.id })
      .update({ status: 'processing', locked_until: plusMs(now, 1000) });
    const retry = await cli(['exports', '--now', plusMs(now, 5 * 60_000).toISOString(), '--json'], {
      DATABASE_URL: db.url,
      ...s3.env,
    });

    expect(retry.json()).toMatchObject({ processed: 1 });
    expect(await jobRow(db.knex, job.id)).toMatchObject({ status: 'complete', attempts: 2 });
    expect(await s3.keys(`exports/${user.id}/`)).toEqual([`exports/${user.id}/${job.id}.zip`]);
    expect(await db.knex('notifications').where({ user_id: user.id, source: 'export' })).toHaveLength(1);
  });
});

describe('exports: an export failing on its own data retries with backoff, then fails with that error', () => {
  test('attempts 1..5 wait 1, 2, 4, 8 minutes; the 5th failure is final; the error is the export’s own', async ({ db }) => {
    const { user } = await seedPlanner(db.knex, 'alice');
    const job = await queue(db.knex, user.id, 'json');
    const env = { DATABASE_URL: db.url, ...s3.env };
    const undo = unserializableFor(user.id, 'json', 0);
    try {
      let when = now;
      for (const [attempt, waitMinutes] of [
        [1, 1],
        [2, 2],
        [3, 4],
        [4, 8],
      ]) {
        const run = await cli(['exports', '--now', when.toISOString(), '--json'], env);
        expect(run.code).toBe(1);
        const row = await jobRow(db.knex, job.id);
        expect(row).toMatchObject({ status: 'pending', attempts: attempt, locked_until: null });
        expect(row.error).toMatch(/cannot serialize/);
        expect(row.run_after.getTime() - when.getTime()).toBeGreaterThanOrEqual(waitMinutes * 60_000);
        // Not before its backoff.
        const early = await cli(['exports', '--now', plusMs(row.run_after, -1000).toISOString(), '--json'], env);
        expect(early.json()).toMatchObject({ processed: 0, failed: 0 });
        when = row.run_after;
      }
      const last = await cli(['exports', '--now', when.toISOString()], env);
      expect(last.code).toBe(1);
      const failed = await jobRow(db.knex, job.id);
      expect(failed).toMatchObject({ status: 'failed', attempts: 5, locked_until: null });
      expect(failed.error).toMatch(/cannot serialize/);
      expect(await db.knex('notifications').where({ user_id: user.id })).toHaveLength(0);
    } finally {
      undo();
    }
    // A failed job stays failed (the API queues a new request, or an operator runs retry).
    const after = await cli(['exports', '--now', plusMs(now, 24 * 3600_000).toISOString(), '--json'], env);
    expect(after.json()).toMatchObject({ processed: 0 });
  });
});

describe('exports: leases', () => {
  test('two concurrent runs over 50 jobs process each exactly once', async ({ db }) => {
    const users = await Promise.all(Array.from({ length: 5 }, () => createUser(db.knex)));
    const jobs = await db
      .knex('export_jobs')
      .insert(Array.from({ length: 50 }, (_, i) => ({ user_id: users[i % 5].id, format: ['json', 'csv', 'markdown'][i % 3] })))
      .returning('id');

    const runs = await Promise.all([1, 2].map(() => cli(['exports', '--json'], { DATABASE_URL: db.url, ...s3.env })));

    const done = runs.map((run) => run.json<{ ids: { exported?: string[] }; processed: number }>());
    expect(done[0].processed + done[1].processed).toBe(50);
    expect(runs.map((run) => run.code)).toEqual([0, 0]);
    const rows = await db.knex('export_jobs').whereIn(
      'id',
      jobs.map((j) => j.id),
    );
    expect(rows.every((row) => row.status === 'complete' && row.attempts === 1)).toBe(true);
    expect(await db.knex('notifications').where({ source: 'export' })).toHaveLength(50);
  });

  test('a live lease is never taken; an expired one is reclaimed by the next run', async ({ db }) => {
    const user = await createUser(db.knex);
    const live = await queue(db.knex, user.id, 'json', { status: 'processing', attempts: 1, locked_until: plusMs(now, 1000) });
    const expired = await queue(db.knex, user.id, 'json', { status: 'processing', attempts: 1, locked_until: plusMs(now, -1) });

    const run = await cli(['exports', '--now', NOW, '--json'], { DATABASE_URL: db.url, ...s3.env });

    expect(run.json()).toMatchObject({ processed: 1, ids: { exported: [expired.id] } });
    expect(await jobRow(db.knex, live.id)).toMatchObject({ status: 'processing', attempts: 1 });
    expect(await jobRow(db.knex, expired.id)).toMatchObject({ status: 'complete', attempts: 2 });
  });

  test('a run whose lease expired cannot overwrite the newer attempt (fenced by the lease token)', async ({ db }) => {
    const user = await createUser(db.knex);
    await queue(db.knex, user.id, 'json');
    const staleJob = (await claimNext(db.knex, plusMs(now, -600_000), []))!;
    await cli(['exports', '--now', NOW], { DATABASE_URL: db.url, ...s3.env });
    const newer = await jobRow(db.knex, staleJob.id);
    expect(newer).toMatchObject({ status: 'complete', attempts: 2 });

    const stale = await markComplete(db.knex, staleJob, {
      key: 'stale',
      link: { url: 'https://stale.invalid', expiresAt: null },
      bytes: 1,
      at: now,
      notifyAfter: now,
    });

    expect(stale).toBe(false);
    expect(await renewLease(db.knex, staleJob, now)).toBe(false);
    expect(await markFailedAttempt(db.knex, staleJob, 'stale', now)).toBe('lost');
    expect(await release(db.knex, staleJob, { charge: false })).toBe(false);
    expect(await jobRow(db.knex, staleJob.id)).toEqual(newer);
  });

  test('a job whose lease expired on its last attempt is failed, not left processing', async ({ db }) => {
    const user = await createUser(db.knex);
    const job = await queue(db.knex, user.id, 'json', { status: 'processing', attempts: 5, locked_until: plusMs(now, -1) });
    const run = await cli(['exports', '--now', NOW, '--json'], { DATABASE_URL: db.url, ...s3.env });
    expect(run.code).toBe(1);
    expect(await jobRow(db.knex, job.id)).toMatchObject({
      status: 'failed',
      locked_until: null,
      error: expect.stringMatching(/lease expired/),
    });
  });
});

describe('exports: untried jobs come before retries', () => {
  test('an older job on its second attempt waits behind a newer untried one; then it is taken', async ({ db }) => {
    const { user } = await seedPlanner(db.knex, 'alice');
    const retried = await queue(db.knex, user.id, 'json', { attempts: 1, created_at: plusMs(now, -60_000) });
    const fresh = await queue(db.knex, user.id, 'json', { created_at: now });

    expect((await claimNext(db.knex, now, []))?.id).toBe(fresh.id);
    expect((await claimNext(db.knex, now, []))?.id).toBe(retried.id);
  });
});

describe('export --user: one export now', () => {
  test('prints the link; an unknown user, a malformed id or an unknown format exits 64', async ({ db }) => {
    const { user } = await seedPlanner(db.knex, 'alice');
    const env = { DATABASE_URL: db.url, ...s3.env };
    const ok = await cli(['export', '--user', user.id, '--format', 'markdown'], env);
    expect(ok.code, ok.stderr).toBe(0);
    const job = await db.knex('export_jobs').where({ user_id: user.id }).first();
    expect(ok.stdout).toContain(job.download_url);
    expect((await fetch(job.download_url)).status).toBe(200);

    expect((await cli(['export', '--user', '00000000-0000-4000-8000-000000000000'], env)).code).toBe(64);
    expect((await cli(['export', '--user', 'alice'], env)).code).toBe(64);
    expect((await cli(['export', '--user', user.id, '--format', 'xml'], env)).code).toBe(64);
    expect((await cli(['export'], env)).code).toBe(64);
    expect(await db.knex('export_jobs').count('* as n').first()).toEqual({ n: '1' });
  });

  test('--dry-run serialises everything but uploads and writes nothing', async ({ db }) => {
    const { user } = await seedPlanner(db.knex, 'alice');
    await queue(db.knex, user.id, 'csv');
    const run = await cli(['exports', '--dry-run', '--now', NOW, '--json'], { DATABASE_URL: db.url, ...s3.env });
    const now1 = await cli(['export', '--user', user.id, '--dry-run', '--json'], { DATABASE_URL: db.url, ...s3.env });

    expect(run.json()).toMatchObject({ dry_run: true, processed: 1 });
    expect(now1.json()).toMatchObject({ dry_run: true, processed: 1 });
    expect(await s3.keys(`exports/${user.id}/`)).toEqual([]);
    expect(await db.knex('export_jobs').where({ user_id: user.id })).toMatchObject([{ status: 'pending', attempts: 0 }]);
    expect(await db.knex('notifications')).toHaveLength(0);
  });
});
