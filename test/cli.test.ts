import { describe, expect, it } from 'vitest';
import { cli, spawnCli } from './support/cli.js';
import { createTestDatabase, test } from './support/db.js';
import { createTask } from './support/factories.js';

const NOW = '2025-06-01T12:00:00Z';

describe('exit 0: the run finished, or there was nothing to do', () => {
  it('--help lists every command and the global options', async () => {
    const run = await cli(['--help'], {});
    expect(run.code).toBe(0);
    for (const word of [
      'migrate',
      'overdue',
      'cleanup-tokens',
      'status',
      'demo',
      '--dry-run',
      '--now',
      '--batch-size',
      '--max-runtime',
      '--json',
    ]) {
      expect(run.stdout).toContain(word);
    }
  });

  test('nothing eligible', async ({ db }) => {
    const run = await cli(['overdue', '--json'], { DATABASE_URL: db.url });
    expect(run.code).toBe(0);
    expect(run.json()).toMatchObject({ status: 'succeeded', processed: 0 });
  });

  test('a job turned off by JOB_<NAME>_ENABLED=false does nothing, says so, and exits 0', async ({ db }) => {
    await createTask(db.knex, { due_date: new Date(0) });
    const run = await cli(['cleanup-tokens', '--json'], { DATABASE_URL: db.url, JOB_CLEANUP_TOKENS_ENABLED: 'false' });
    expect(run.code).toBe(0);
    expect(run.json()).toMatchObject({ job: 'cleanup-tokens', status: 'skipped', reason: 'disabled' });
    expect(await db.knex('job_runs').count({ n: '*' })).toEqual([{ n: '0' }]);
  });
});

describe('a reader that goes away does not fail the run', () => {
  test('stdout closed before the summary is written (`| head`): the run still finishes, is recorded, and exits 0', async ({
    db,
  }) => {
    await createTask(db.knex, { due_date: new Date('2025-05-01T00:00:00Z') });
    const run = spawnCli(['overdue', '--now', NOW, '--json'], { DATABASE_URL: db.url });
    run.child.stdout.destroy();
    const result = await run.done;
    expect(result.stderr).not.toContain('EPIPE');
    expect(result.code).toBe(0);
    expect(await db.knex('job_runs').select('status')).toEqual([{ status: 'succeeded' }]);
  });
});

describe('on a terminal, logs are readable lines rather than JSON', () => {
  test('pretty start and end lines on stderr', async ({ db }) => {
    const run = await cli(['overdue'], { DATABASE_URL: db.url }, { interactive: true });
    expect(run.code).toBe(0);
    expect(run.stderr).toMatch(/INFO.*overdue started/);
    expect(run.logs()).toEqual([]);
  });
});

describe('global options are the same before and after the command name', () => {
  test('--dry-run overdue and overdue --dry-run', async ({ db }) => {
    await createTask(db.knex, { due_date: new Date('2025-01-01T00:00:00Z') });
    const before = await cli(['--dry-run', '--now', NOW, '--json', 'overdue'], { DATABASE_URL: db.url });
    const after = await cli(['overdue', '--dry-run', '--now', NOW, '--json'], { DATABASE_URL: db.url });
    for (const run of [before, after])
      expect(run.json()).toMatchObject({ dry_run: true, processed: 1, now: '2025-06-01T12:00:00.000Z' });
  });
});

describe('asking for help or the version is not an error (exit 0)', () => {
  it.each([[['help']], [['help', 'reminders']], [['reminders', '--help']], [['--version']]])('%j', async (args) => {
    const run = await cli(args, {});
    expect(run.code).toBe(0);
    expect(run.stdout).not.toBe('');
  });

  it("a command's help lists the global options too", async () => {
    const run = await cli(['reminders', '--help'], {});
    expect(run.stdout).toMatch(/Global Options:[\s\S]*--dry-run[\s\S]*--now/);
  });
});

describe('exit 64: bad usage, with a message that names what was wrong', () => {
  it('with --json the summary carries the same one line (the "Did you mean" hint joined on)', async () => {
    const run = await cli(['reminder', '--json'], {});
    expect(run.code).toBe(64);
    expect(run.json()).toEqual({
      status: 'failed',
      exit_code: 64,
      error: "unknown command 'reminder' (Did you mean reminders?)",
    });
  });

  it.each([
    [['frobnicate'], "unknown command 'frobnicate'"],
    [['reminder'], "unknown command 'reminder' (Did you mean reminders?)"],
    [['overdue', '--frobnicate'], "unknown option '--frobnicate'"],
    [['overdue', '--now', 'yesterday'], 'ISO 8601'],
    [['overdue', '--now', '2025-06-01T12:00:00'], 'with an offset'],
    [['overdue', '--batch-size', '0'], '--batch-size takes a whole number'],
    [['overdue', '--max-runtime', 'soon'], '--max-runtime takes a whole number'],
    [['overdue', 'extra'], 'too many arguments'],
    [['status', '--runs', 'abc'], '--runs takes a whole number'],
    [[], 'Usage: planner-jobs'],
  ])('%j', async (args, message) => {
    const run = await cli(args, {});
    expect(run.code).toBe(64);
    expect(run.stderr).toContain(message);
    // One line under the tool's prefix, the pointer to --help on it (no command at all: the help itself).
    if (args.length > 0) expect(run.stderr).toMatch(/^planner-jobs: [^\n]+ \(run `planner-jobs --help` for usage\)\n$/);
  });
});

describe('exit 75: the database cannot be reached now', () => {
  it('names the problem and never prints the password', async () => {
    const run = await cli(['overdue'], { DATABASE_URL: 'postgresql://planner:s3cret-pw@127.0.0.1:1/planner' });
    expect(run.code).toBe(75);
    expect(run.stderr).toContain('cannot reach the database');
    expect(run.stderr + run.stdout).not.toContain('s3cret-pw');
  });
});

describe('exit 78: bad configuration, every problem named by its variable', () => {
  it('malformed variables', async () => {
    const run = await cli(['overdue'], { DATABASE_URL: 'mysql://x', STREAK_THRESHOLD: 'lots', OVERDUE_NOTIFY: 'perhaps' });
    expect(run.code).toBe(78);
    for (const name of ['DATABASE_URL', 'STREAK_THRESHOLD', 'OVERDUE_NOTIFY']) expect(run.stderr).toContain(name);
  });

  it('half a VAPID identity', async () => {
    const run = await cli(['overdue'], { VAPID_PUBLIC_KEY: 'abc' });
    expect(run.code).toBe(78);
    expect(run.stderr).toContain('VAPID_PRIVATE_KEY');
  });

  it('a schema that is behind: says to run migrate', async () => {
    const empty = await createTestDatabase({ migrated: false });
    try {
      const run = await cli(['overdue', '--json'], { DATABASE_URL: empty.url });
      expect(run.code).toBe(78);
      expect(run.stderr).toContain('run `planner-jobs migrate`');
      expect(run.json()).toMatchObject({ status: 'failed', exit_code: 78 });
    } finally {
      await empty.drop();
    }
  });
});
