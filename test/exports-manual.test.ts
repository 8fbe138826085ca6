import http from 'node:http';
import type net from 'node:net';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect } from 'vitest';
import { cli } from './support/cli.js';
import { test } from './support/db.js';
import { seedPlanner } from './support/exports.js';

const NOW = '2025-06-01T12:00:00.000Z';
let exportDir: string;
let heartbeat: http.Server;
let heartbeatUrl: string;
const pings: string[] = [];

beforeAll(async () => {
  exportDir = await fs.mkdtemp(path.join(os.tmpdir(), 'planner-jobs-exports-'));
  heartbeat = http.createServer((request, response) => {
    pings.push(request.url!);
    request.resume();
    response.end('OK');
  });
  await new Promise<void>((resolve) => heartbeat.listen(0, '127.0.0.1', resolve));
  heartbeatUrl = `http://127.0.0.1:${(heartbeat.address() as net.AddressInfo).port}/ping/{job}`;
});
afterAll(async () => {
  await new Promise((resolve) => heartbeat.close(resolve));
  await fs.rm(exportDir, { recursive: true, force: true });
});

describe('export --user records itself as export, not as the scheduled exports (contract; issue #14 part 6)', () => {
  test('job_runs says export; no exports heartbeat; exports still has no success for status --check; JOB_EXPORTS_ENABLED=false does not block it', async ({
    db,
  }) => {
    const { user } = await seedPlanner(db.knex, 'alice');
    const env = { DATABASE_URL: db.url, EXPORT_DIR: exportDir, HEARTBEAT_URL: heartbeatUrl, JOB_EXPORTS_ENABLED: 'false' };
    pings.length = 0;

    const run = await cli(['export', '--user', user.id, '--now', NOW, '--json'], env);

    expect(run.code, run.stderr).toBe(0);
    expect(run.json()).toMatchObject({ job: 'export', status: 'succeeded', processed: 1 });
    expect(await db.knex('job_runs').select('job', 'status')).toEqual([{ job: 'export', status: 'succeeded' }]);
    expect(await db.knex('export_jobs').where({ user_id: user.id }).first()).toMatchObject({ status: 'complete' });
    expect(pings).toEqual([]);

    const check = await cli(['status', '--check', '--json', '--now', NOW], { DATABASE_URL: db.url });
    const health = check.json<{ jobs: { job: string; verdict: string }[] }>();
    expect(health.jobs.find((job) => job.job === 'exports')).toMatchObject({ verdict: 'never' });

    // The scheduled job itself is still turned off by its variable, and pings its heartbeat when on.
    expect((await cli(['exports', '--json'], env)).json()).toMatchObject({
      job: 'exports',
      status: 'skipped',
      reason: 'disabled',
    });
    await cli(['exports', '--now', NOW], { ...env, JOB_EXPORTS_ENABLED: 'true' });
    expect(pings).toEqual(['/ping/exports/start', '/ping/exports/0']);
  });
});

describe('export --user with a user that does not exist: 64 before anything is recorded', () => {
  test.for([[], ['--dry-run']])('%j', async (extra, { db }) => {
    const env = { DATABASE_URL: db.url, EXPORT_DIR: exportDir };
    const run = await cli(['export', '--user', '00000000-0000-4000-8000-000000000000', '--json', ...extra], env);

    expect(run.code).toBe(64);
    expect(run.stderr.split('\n').filter((line) => line.startsWith('planner-jobs: '))).toEqual([
      'planner-jobs: no user with id 00000000-0000-4000-8000-000000000000',
    ]);
    expect(run.stderr).not.toContain('"stack"');
    expect(await db.knex('job_runs').count({ n: '*' })).toEqual([{ n: '0' }]);
    expect(await db.knex('export_jobs').count({ n: '*' })).toEqual([{ n: '0' }]);
  });
});
