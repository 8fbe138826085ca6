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

// The README's two commands for every newcomer (issue #11): the real binary on the embedded default
// as root from a 0700 directory, as a new non-root user, and under paths a shell would act on.
// Each case runs a cheap job (the demo runs in embedded.test.ts), then reads it back in a second run.

const exec = promisify(execFile);
const isRoot = process.getuid?.() === 0;
const REPO_BIN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../bin');

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
