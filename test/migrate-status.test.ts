import { describe, expect, it } from 'vitest';
import { cli } from './support/cli.js';
import { createTestDatabase, test } from './support/db.js';
import { createTask } from './support/factories.js';

describe('migrate: brings the schema up to date; --status lists the migrations', () => {
  it('pending on an empty database, applied after migrate, idempotent on a rerun', async () => {
    const db = await createTestDatabase({ migrated: false });
    try {
      const env = { DATABASE_URL: db.url };
      const before = await cli(['migrate', '--status', '--json'], env);
      expect(before.json<unknown[]>()).toContainEqual(
        expect.objectContaining({ name: '20261122000000_initial_schema', applied: false }),
      );

      const migrate = await cli(['migrate'], env);
      expect(migrate.code).toBe(0);
      expect(migrate.stdout).toContain('applied: 20261122000000_initial_schema');

      const after = await cli(['migrate', '--status', '--json'], env);
      expect(after.json<{ applied: boolean }[]>().every((row) => row.applied)).toBe(true);
      expect((await cli(['migrate'], env)).stdout).toContain('already up to date');
      expect((await cli(['overdue'], env)).code).toBe(0);
    } finally {
      await db.drop();
    }
  });

  it('--dry-run lists what it would apply and applies nothing', async () => {
    const db = await createTestDatabase({ migrated: false });
    try {
      const env = { DATABASE_URL: db.url };
      const dry = await cli(['migrate', '--dry-run', '--json'], env);
      expect(dry.code).toBe(0);
      expect(dry.json()).toMatchObject({
        status: 'succeeded',
        dry_run: true,
        would_apply: expect.arrayContaining(['20261122000000_initial_schema']),
      });
      const status = await cli(['migrate', '--status', '--json'], env);
      expect(status.json<{ applied: boolean }[]>().some((row) => row.applied)).toBe(false);
      expect((await cli(['overdue'], env)).code).toBe(78); // still behind: nothing was applied

      await cli(['migrate'], env);
      expect((await cli(['migrate', '--dry-run'], env)).stdout).toContain('dry run: already up to date');
    } finally {
      await db.drop();
    }
  });
});

describe('status: the recent runs of every job', () => {
  test('shows each job run, newest first, with status, counts and the reason', async ({ db }) => {
    await createTask(db.knex, { due_date: new Date('2025-01-01T00:00:00Z') });
    await cli(['overdue', '--now', '2025-06-01T00:00:00Z'], { DATABASE_URL: db.url });
    await cli(['overdue', '--dry-run'], { DATABASE_URL: db.url });
    await cli(['cleanup-tokens'], { DATABASE_URL: db.url });

    const json = await cli(['status', '--json'], { DATABASE_URL: db.url });
    const runs = json.json<{ job: string; status: string; processed: number; dry_run: boolean; duration_ms: number }[]>();
    expect(runs.filter((run) => run.job === 'overdue').map((run) => [run.dry_run, run.processed])).toEqual([
      [true, 0],
      [false, 1],
    ]);
    expect(runs.find((run) => run.job === 'cleanup-tokens')).toMatchObject({ status: 'succeeded', processed: 0 });

    const text = await cli(['status'], { DATABASE_URL: db.url });
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/overdue\n {2}#\d+ {2}succeeded/);
    expect(text.stdout).toContain('(dry run)');
  });
});
