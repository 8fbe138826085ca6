import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { expect, inject } from 'vitest';
import { remindersChaos } from '../chaos/jobs/reminders.js';
import { cli } from './support/cli.js';
import { test } from './support/db.js';

const execFileAsync = promisify(execFile);
const ARGS =
  '--quick --job overdue --items 500 --seed 1 --scenario concurrent sigkill connection-killed postgres-restart clock-backwards';

// The chaos harness end to end on its cheapest job, so it cannot rot: the real CLI killed,
// cut off and sent back in time, on the suite's server (a server the harness does not own, so
// the PostgreSQL restart is skipped). The limit is generous: this pins correctness, not speed, and a
// loaded machine runs the five scenarios in 2 minutes where an idle one takes 40 s.
test('npm run chaos --quick --job overdue: every scenario counted from the database, verdict ok, results written', async () => {
  const results = await fs.mkdtemp(path.join(os.tmpdir(), 'planner-jobs-chaos-'));
  try {
    const { stdout } = await execFileAsync(
      process.execPath,
      ['--import', 'tsx', 'chaos/index.ts', ...ARGS.split(' '), '--results', results],
      { env: { PATH: process.env.PATH, HOME: process.env.HOME, TEST_DATABASE_URL: inject('adminUrl') }, timeout: 235_000 },
    );
    const report = JSON.parse(await fs.readFile(path.join(results, 'latest.json'), 'utf8')) as {
      rows: { scenario: string; expected: number; done: number; duplicates: number; lost: number; verdict: string }[];
    };
    expect(report.rows.map((row) => [row.scenario, row.verdict])).toEqual([
      ['concurrent', 'ok'],
      ['sigkill', 'ok'],
      ['connection-killed', 'ok'],
      ['postgres-restart', 'skipped'],
      ['clock-backwards', 'ok'],
    ]);
    for (const row of report.rows.filter((r) => r.verdict === 'ok'))
      expect(row).toMatchObject({ expected: 500, done: 500, duplicates: 0, lost: 0 });
    expect(stdout).toContain('| overdue | sigkill | 500 | 500 | 0 | 0 |');
    expect(await fs.readFile(path.join(results, 'latest.md'), 'utf8')).toContain(stdout.trim().split('\n').at(-1));
  } finally {
    await fs.rm(results, { recursive: true, force: true });
  }
}, 240_000);

// The counting the verdicts rest on: a duplicate, a loss and a half-written item planted by hand are seen.
test('the chaos checks count a planted duplicate, loss and half-written item from the rows', async ({ db }) => {
  const world = await remindersChaos.world(20, { serviceFaults: false });
  await world.seed(db.knex);
  const run = await cli(['reminders', '--now', remindersChaos.now.toISOString()], { DATABASE_URL: db.url });
  expect(run.code).toBe(0);
  expect(await world.check(db.knex)).toMatchObject({ expected: 20, done: 20, duplicates: 0, lost: 0, halfWritten: 0, wrong: 0 });

  const [copied, dropped] = await db.knex('notifications').where({ source: 'reminder' }).orderBy('id').limit(2);
  await db.knex('notifications').insert({ ...copied, id: undefined, dedupe_key: null });
  await db.knex('notifications').where({ id: dropped.id }).delete();

  expect(await world.check(db.knex)).toMatchObject({ expected: 20, done: 19, duplicates: 1, lost: 1, halfWritten: 1 });
});
