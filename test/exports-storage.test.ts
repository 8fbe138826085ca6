import type { Knex } from 'knex';
import { afterAll, beforeAll, describe, expect } from 'vitest';
import { cli, spawnCli, type CliResult } from './support/cli.js';
import { test } from './support/db.js';
import { exportRows, fill, queueExports, smallDisk, unwritableDirectory, type FaultyDirectory } from './support/exports.js';
import { closedEndpoint, startS3, wrongRegionEndpoint, type S3Server } from './support/s3.js';

const NOW = '2025-06-01T12:00:00.000Z';
let s3: S3Server;

beforeAll(async () => {
  s3 = await startS3();
});
afterAll(() => s3.close());

/**
 * The run stopped before anything was recorded or claimed: the exit code, one line naming
 * `variable` (no stack), no job_runs row, every export still pending with no attempt charged.
 */
async function expectRefused(knex: Knex, run: CliResult, code: number, variable: RegExp) {
  expect(run.code, run.stderr).toBe(code);
  const lines = run.stderr.split('\n').filter((line) => line.startsWith('planner-jobs: '));
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(variable);
  expect(run.stderr).not.toMatch(/^\s+at /m);
  expect(run.json()).toMatchObject({ status: 'failed', exit_code: code });
  expect(await knex('job_runs').count('* as n').first()).toEqual({ n: '0' });
  for (const row of await exportRows(knex)) expect(row).toMatchObject({ status: 'pending', attempts: 0, locked_until: null });
}

/** Storage is back: every export completes in one run. */
async function expectAllRun(knex: Knex, env: Record<string, string>, ids: string[]) {
  const run = await cli(['exports', '--now', NOW, '--json'], env);
  expect(run.code, run.stderr).toBe(0);
  expect(run.json()).toMatchObject({ processed: ids.length, failed: 0 });
  for (const row of await exportRows(knex)) expect(row).toMatchObject({ status: 'complete', attempts: 1 });
}

describe('exports: file storage that cannot take a write is the run’s fault (issue #12, #14 part 1)', () => {
  let unwritable: FaultyDirectory | string;
  let disk: FaultyDirectory | string;
  beforeAll(async () => {
    unwritable = await unwritableDirectory();
    disk = await smallDisk(256 * 1024);
  });
  afterAll(async () => {
    if (typeof unwritable !== 'string') await unwritable.close();
    if (typeof disk !== 'string') await disk.close();
  });

  test('EXPORT_DIR unwritable: 78 naming EXPORT_DIR, nothing claimed; the exports run once it is writable', async ({
    db,
    skip,
  }) => {
    if (typeof unwritable === 'string') return skip(unwritable);
    const ids = await queueExports(db.knex, 4);
    const env = { DATABASE_URL: db.url, EXPORT_STORAGE: 'file', EXPORT_DIR: unwritable.dir };

    await expectRefused(db.knex, await cli(['exports', '--now', NOW, '--json'], env), 78, /EXPORT_DIR .*\((EROFS|EACCES)\)/);
    await unwritable.restore();
    await expectAllRun(db.knex, env, ids);
  });

  test('a full disk: 75 naming EXPORT_DIR, nothing claimed; the exports run once it has room', async ({ db, skip }) => {
    if (typeof disk === 'string') return skip(disk);
    await fill(disk.dir);
    const ids = await queueExports(db.knex, 4);
    const env = { DATABASE_URL: db.url, EXPORT_STORAGE: 'file', EXPORT_DIR: disk.dir };

    await expectRefused(db.knex, await cli(['exports', '--now', NOW, '--json'], env), 75, /EXPORT_DIR .*\(ENOSPC\)/);
    await disk.restore();
    await expectAllRun(db.knex, env, ids);
  });
});

describe('exports: a disk that fills up mid-export hands the export back uncharged and stops the run (75)', () => {
  test('the probe passes, the first export hits ENOSPC: 75, no export charged or left processing', async ({ db, skip }) => {
    const disk = await smallDisk(256 * 1024);
    if (typeof disk === 'string') return skip(disk);
    try {
      // ~1 MB per export: more than the disk holds, the probe's few kilobytes fit.
      const ids = await queueExports(db.knex, 4, 8000);
      const env = { DATABASE_URL: db.url, EXPORT_STORAGE: 'file', EXPORT_DIR: disk.dir };

      const run = await cli(['exports', '--now', NOW, '--json'], env);
      expect(run.code, run.stderr).toBe(75);
      expect(run.json()).toMatchObject({ status: 'failed', failed: 0, counts: { released: 1 } });
      expect(run.stderr).toMatch(/EXPORT_DIR .*\(ENOSPC\)/);
      // What fitted (a small zip) is complete; the rest is pending as if never tried.
      const rows = await exportRows(db.knex);
      for (const row of rows) {
        if (row.status === 'complete') expect(row).toMatchObject({ attempts: 1 });
        else expect(row).toMatchObject({ status: 'pending', attempts: 0, locked_until: null, error: null });
      }
      expect(rows.filter((row) => row.status === 'pending').length).toBeGreaterThan(0);
      expect(await db.knex('job_runs').first()).toMatchObject({ job: 'exports', status: 'failed' });

      await disk.restore();
      const rerun = await cli(['exports', '--now', NOW, '--json'], env);
      expect(rerun.code, rerun.stderr).toBe(0);
      for (const row of await exportRows(db.knex)) expect(row).toMatchObject({ status: 'complete', attempts: 1 });
      expect(ids).toHaveLength(4);
    } finally {
      await disk.close();
    }
  });
});

describe('exports: S3 storage that refuses this configuration is 78 before anything is claimed (issue #12)', () => {
  test('a missing bucket: 78 naming S3_BUCKET (NoSuchBucket); the exports run once the bucket is right', async ({ db }) => {
    const ids = await queueExports(db.knex, 3);
    const env = { DATABASE_URL: db.url, ...s3.env };

    const run = await cli(['exports', '--now', NOW, '--json'], { ...env, S3_BUCKET: 'no-such-bucket' });
    await expectRefused(db.knex, run, 78, /\(NoSuchBucket\): S3_BUCKET/);
    await expectAllRun(db.knex, env, ids);
  });

  for (const code of ['PermanentRedirect', 'AuthorizationHeaderMalformed'] as const) {
    test(`a wrong region (${code}): 78 naming S3_REGION`, async ({ db }) => {
      await queueExports(db.knex, 2);
      const wrong = await wrongRegionEndpoint(code);
      try {
        const run = await cli(['exports', '--now', NOW, '--json'], {
          DATABASE_URL: db.url,
          ...s3.env,
          S3_ENDPOINT: wrong.endpoint,
        });
        await expectRefused(db.knex, run, 78, new RegExp(`\\(${code}\\): S3_REGION`));
      } finally {
        await wrong.close();
      }
    });
  }

  // The real binary, so that the AWS SDK's default chain reads only this environment (no IMDS, no ~/.aws).
  const noAmbientCredentials = {
    AWS_EC2_METADATA_DISABLED: 'true',
    AWS_SHARED_CREDENTIALS_FILE: '/nonexistent/planner-jobs-test',
    AWS_CONFIG_FILE: '/nonexistent/planner-jobs-test',
  };

  test('no credentials: 78 naming the credentials (CredentialsProviderError)', async ({ db }) => {
    await queueExports(db.knex, 2);
    const { AWS_ACCESS_KEY_ID: _id, AWS_SECRET_ACCESS_KEY: _secret, ...withoutKeys } = s3.env;
    const run = await spawnCli(['exports', '--now', NOW, '--json'], {
      DATABASE_URL: db.url,
      ...withoutKeys,
      ...noAmbientCredentials,
    }).done;
    await expectRefused(db.knex, run, 78, /\(CredentialsProviderError\).*AWS_ACCESS_KEY_ID/);
  });

  test('credentials S3 does not know: 78 naming the credentials (InvalidAccessKeyId), never the secret', async ({ db }) => {
    await queueExports(db.knex, 2);
    const run = await spawnCli(['exports', '--now', NOW, '--json'], {
      DATABASE_URL: db.url,
      ...s3.env,
      ...noAmbientCredentials,
      AWS_ACCESS_KEY_ID: 'NOT-A-KEY',
      AWS_SECRET_ACCESS_KEY: 'planner-jobs-test-secret',
    }).done;
    await expectRefused(db.knex, run, 78, /\(InvalidAccessKeyId\).*AWS_ACCESS_KEY_ID/);
    expect(run.stderr + run.stdout).not.toContain('planner-jobs-test-secret');
  });

  test('storage unreachable: 75 before anything is claimed; the exports run once it answers', async ({ db }) => {
    const ids = await queueExports(db.knex, 3);
    const env = { DATABASE_URL: db.url, ...s3.env };
    const run = await cli(['exports', '--now', NOW, '--json'], { ...env, S3_ENDPOINT: await closedEndpoint() });
    await expectRefused(db.knex, run, 75, /cannot reach export storage s3:\/\/planner-exports: .*ECONNREFUSED/);
    await expectAllRun(db.knex, env, ids);
    expect((await s3.keys()).filter((key) => key.includes('.planner-jobs-probe'))).toEqual([]);
  });
});
