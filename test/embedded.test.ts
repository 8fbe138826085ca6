import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { removeDataDir } from '../src/core/embedded.js';
import { SERVER_HOME } from '../src/core/embedded/binaries.js';
import { reachableBy } from '../src/core/embedded/identity.js';
import { copyApp } from './support/appCopy.js';
import { spawnCli, type CliResult } from './support/cli.js';

const exec = promisify(execFile);
const isRoot = process.getuid?.() === 0;
const REPO_BIN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../bin');

/** The real binary with no DATABASE_URL: the embedded PostgreSQL under PLANNER_DATA_DIR. */
describe('the embedded default (no DATABASE_URL)', () => {
  let dataDir: string;
  const run = (...args: string[]) => spawnCli(args, { PLANNER_DATA_DIR: dataDir }).done;

  beforeAll(async () => {
    dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'planner-jobs-embedded-'));
    await fs.chmod(dataDir, 0o755);
  });
  afterAll(async () => {
    await removeDataDir(dataDir);
  });

  it('creates and migrates the database on first use, and stops the server after the run', async () => {
    const first = await run('overdue', '--json');

    expect(first.code).toBe(0);
    expect(first.json()).toMatchObject({ job: 'overdue', status: 'succeeded' });
    expect(first.stderr).toMatch(/applied \d+ migration/);
    await expect(fs.access(path.join(dataDir, 'postgres', 'postmaster.pid'))).rejects.toThrow();
  });

  it('keeps its data across runs', async () => {
    await run('cleanup-tokens');
    const status = await run('status', '--json');
    expect(status.json<{ job: string }[]>().map((r) => r.job)).toEqual(['overdue', 'cleanup-tokens']);
  });

  it('lets two overlapping runs both succeed (the second waits for the first)', async () => {
    const [a, b] = await Promise.all([run('overdue', '--json'), run('overdue', '--json')]);
    expect([a.code, b.code]).toEqual([0, 0]);
    const status = await run('status', '--json');
    expect(
      status
        .json<{ job: string; status: string }[]>()
        .filter((r) => r.job === 'overdue')
        .map((r) => r.status),
    ).toEqual(['succeeded', 'succeeded', 'succeeded']);
  });

  it('runs the demo: sample data in several zones, every job, what each did', async () => {
    const demo = await run('demo');
    expect(demo.code).toBe(0);
    expect(demo.stdout).toMatch(/overdue: succeeded .*processed [1-9]/);
    expect(demo.stdout).toMatch(/cleanup-tokens: succeeded .*processed [1-9]/);
    // What each did, read back from the data: instances in local time, overdue tasks, days closed, files.
    expect(demo.stdout).toMatch(
      /"Pay the credit card" \(monthly\) \d{4}-\d{2}-31 18:00 → \d{4}-\d{2}-(28|29|30) 18:00 America\/New_York/,
    );
    expect(demo.stdout).toMatch(/Overdue tasks:\n {2}Ana: "/);
    expect(demo.stdout).toMatch(/Days closed by rollover:\n {2}\w+ \(/);
    expect(demo.stdout).toMatch(/ana@demo\.planner-jobs\.test: expired, cleared/);
    expect(demo.stdout).toMatch(/json: complete file:\/\/\//);
  });

  it('says why when the server refuses to start: the path, its log tail and what to do, in one line (exit 75)', async () => {
    const conf = path.join(await fs.realpath(path.join(dataDir, 'postgres')), 'postgresql.conf');
    const original = await fs.readFile(conf, 'utf8');
    await fs.appendFile(conf, "shared_buffers = 'plenty'\n");
    try {
      const refused = await run('overdue');
      expect(refused.code).toBe(75);
      expect(failureLine(refused)).toMatch(
        /^planner-jobs: could not start the embedded PostgreSQL in \/\S+: .+; server log: .*invalid value for parameter "shared_buffers".*; set DATABASE_URL, or choose a PLANNER_DATA_DIR/,
      );
    } finally {
      await fs.writeFile(conf, original);
    }
    expect((await run('overdue')).code).toBe(0);
  });
});

describe('every failure to create the embedded server says why', () => {
  it('a PLANNER_DATA_DIR that cannot be created: the OS error, the path and what to do, exit 78', async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'planner-jobs-notdir-'));
    await fs.writeFile(path.join(dir, 'file'), '');
    try {
      const failed = await spawnCli(['overdue'], { PLANNER_DATA_DIR: path.join(dir, 'file', 'data') }).done;
      expect(failed.code).toBe(78);
      expect(failureLine(failed)).toMatch(
        /^planner-jobs: could not create PLANNER_DATA_DIR \/\S+\/file\/data: ENOTDIR: not a directory.*; set DATABASE_URL, or choose a PLANNER_DATA_DIR /,
      );
      expect(failed.stderr).not.toMatch(/\n\s+at /); // no stack
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });
});

/** The one line a failed run prints for the operator. */
function failureLine(result: CliResult): string {
  const lines = result.stderr.split('\n').filter((l) => l.startsWith('planner-jobs: '));
  expect(lines).toHaveLength(1);
  return lines[0];
}

/**
 * A path component a shell would act on: two ways to run `touch MARK`, quotes and a non-ASCII
 * letter. Every case below puts one in its paths, then looks for the marker.
 */
function hostile() {
  const mark = `pj-mark-${randomBytes(4).toString('hex')}`;
  return { mark, name: `x \`touch ${mark}\` $(touch ${mark}) 'q' "d" é` };
}

/** Paths where `mark` exists: under `roots` (searched whole) or in the places a stray shell would run. */
async function markers(mark: string, roots: string[]): Promise<string[]> {
  const found: string[] = [];
  for (const root of roots) {
    const { stdout } = await exec('find', [root, '-name', `${mark}*`]).catch(() => ({ stdout: '' }));
    found.push(...stdout.split('\n').filter(Boolean));
  }
  for (const dir of ['/', os.tmpdir(), process.cwd(), os.homedir(), SERVER_HOME, '/var/lib/postgresql']) {
    if (
      await fs.access(path.join(dir, mark)).then(
        () => true,
        () => false,
      )
    )
      found.push(path.join(dir, mark));
  }
  return found;
}

/** Two runs on one data dir: the first creates the cluster and runs a cheap job, the second finds that run in `status`. */
async function twoRuns(run: (...args: string[]) => Promise<CliResult>): Promise<CliResult> {
  const first = await run('cleanup-tokens', '--json');
  expect(first.code, first.stderr).toBe(0);
  expect(first.json()).toMatchObject({ job: 'cleanup-tokens', status: 'succeeded' });
  const second = await run('status', '--json');
  expect(second.code, second.stderr).toBe(0);
  expect(second.json<{ job: string }[]>().map((r) => r.job)).toEqual(['cleanup-tokens']);
  expect(second.stderr).not.toMatch(/creating the embedded PostgreSQL cluster/);
  return first;
}

describe.skipIf(!isRoot)('as root, with the checkout and its data dir under a directory only root may enter (0700)', () => {
  const { mark, name } = hostile();
  let home: string;
  let app: string;

  beforeAll(async () => {
    home = await fs.mkdtemp(path.join(os.tmpdir(), `${name}-`)); // 0700, like /root
    app = path.join(home, 'planner-jobs');
    await copyApp(app);
  });
  afterAll(async () => {
    await removeDataDir(path.join(app, '.planner-jobs'));
    await fs.rm(home, { recursive: true, force: true });
  });

  it('runs a job from the checkout with the default ./.planner-jobs, keeps its data, and names what it keeps outside', async () => {
    const first = await twoRuns(
      (...args) => spawnCli(args, {}, { cwd: app, bin: path.join(app, 'bin', 'planner-jobs.js') }).done,
    );

    const cluster = await fs.realpath(path.join(app, '.planner-jobs', 'postgres'));
    expect(cluster.startsWith(path.join(SERVER_HOME, 'clusters') + '/')).toBe(true);
    expect(first.stderr).toContain(`the embedded PostgreSQL cluster is kept in ${path.dirname(cluster)}`);
    expect(first.stderr).toMatch(new RegExp(`"binaries":"${SERVER_HOME}/postgresql-`));
    await expect(fs.access(path.join(cluster, 'postmaster.pid'))).rejects.toThrow();
    expect(await markers(mark, [home, path.dirname(cluster)])).toEqual([]);
  });
});

describe('a data dir whose name a shell would act on (spaces, quotes, $, backticks, non-ASCII)', () => {
  const { mark, name } = hostile();
  let parent: string;

  beforeAll(async () => {
    parent = await fs.mkdtemp(path.join(os.tmpdir(), 'planner-jobs-hostile-'));
    await fs.chmod(parent, 0o755); // reachable: the cluster stays under the data dir, so its path reaches initdb and the server
  });
  afterAll(async () => {
    await removeDataDir(path.join(parent, name));
    await fs.rm(parent, { recursive: true, force: true });
  });

  it('creates, runs and reopens the cluster there, and no shell runs anything from the name', async () => {
    const dataDir = path.join(parent, name);
    await twoRuns((...args) => spawnCli(args, { PLANNER_DATA_DIR: dataDir }, { cwd: parent }).done);

    expect((await fs.lstat(path.join(dataDir, 'postgres'))).isDirectory()).toBe(true);
    await expect(fs.access(path.join(dataDir, 'postgres', 'PG_VERSION'))).resolves.toBeUndefined();
    expect(await markers(mark, [parent])).toEqual([]);
  });
});

describe('as a non-root user, with its data dir under its own 0700 directory and a node_modules it cannot write', () => {
  const { mark, name } = hostile();
  const user = `pj${randomBytes(4).toString('hex')}`;
  let ids: { uid: number; gid: number } | undefined;
  let skipReason: string | undefined;
  let home: string;
  let appDir: string | undefined;
  let bin: string | undefined;

  beforeAll(async () => {
    if (!isRoot) {
      skipReason = 'the test process is not root, so it cannot create a user';
      return;
    }
    try {
      await exec('useradd', ['--system', '--user-group', '--no-create-home', '--shell', '/usr/sbin/nologin', user]);
      ids = { uid: Number((await exec('id', ['-u', user])).stdout), gid: Number((await exec('id', ['-g', user])).stdout) };
    } catch (err) {
      skipReason = `useradd failed here: ${(err as Error).message.split('\n')[0]}`;
      return;
    }
    home = await fs.mkdtemp(path.join(os.tmpdir(), `${name}-`));
    await fs.chown(home, ids.uid, ids.gid);
    // The checkout, root's: run in place when the user can reach it, else from a copy it can (a clone under /root).
    if (!(await reachableBy(REPO_BIN, { name: user, ...ids, advice: '' }))) {
      appDir = await fs.mkdtemp(path.join(os.tmpdir(), 'planner-jobs-app-'));
      await fs.chmod(appDir, 0o755);
      bin = await copyApp(appDir);
    }
  });
  afterAll(async () => {
    if (home) {
      await removeDataDir(path.join(home, 'data'));
      await fs.rm(home, { recursive: true, force: true });
    }
    if (appDir) await fs.rm(appDir, { recursive: true, force: true });
    if (ids) await exec('userdel', [user]).catch(() => undefined);
  });

  it('runs a job as that user, the server as that user too, and keeps its data', async (context) => {
    if (skipReason) {
      console.log(`skipped: ${skipReason}`);
      return context.skip(skipReason);
    }
    const dataDir = path.join(home, 'data');
    await twoRuns((...args) => spawnCli(args, { PLANNER_DATA_DIR: dataDir, HOME: home }, { cwd: home, bin, ...ids }).done);

    const pgdata = path.join(dataDir, 'postgres');
    expect((await fs.lstat(pgdata)).isDirectory()).toBe(true);
    expect((await fs.stat(pgdata)).uid).toBe(ids!.uid);
    expect(await markers(mark, [home])).toEqual([]);
  });
});
