import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { removeDataDir } from '../src/core/embedded.js';
import { spawnCli, type CliResult } from './support/cli.js';

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

  it('says the cluster is unusable when it is damaged or from another version: move it aside (exit 78)', async () => {
    const versionFile = path.join(await fs.realpath(path.join(dataDir, 'postgres')), 'PG_VERSION');
    const original = await fs.readFile(versionFile, 'utf8');
    try {
      for (const [content, serverWords] of [
        ['garbage\n', /is not a valid data directory/],
        ['99\n', /database files are incompatible with server/],
      ] as const) {
        await fs.writeFile(versionFile, content);
        const refused = await run('overdue');
        expect(refused.code).toBe(78);
        const line = failureLine(refused);
        expect(line).toMatch(serverWords);
        expect(line).toMatch(/; move \/\S+ aside \(the next run creates a new, empty one\) or set DATABASE_URL$/);
      }
    } finally {
      await fs.writeFile(versionFile, original);
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

  // Node 20's recursive mkdir spins forever on ENOENT from a pseudo-file system; the run must answer.
  it('a PLANNER_DATA_DIR the kernel will not create (under /proc): exit 78 at once, not a hang', async () => {
    const failed = await spawnCli(['overdue'], { PLANNER_DATA_DIR: '/proc/1/planner-jobs-data' }).done;
    expect(failed.code).toBe(78);
    expect(failureLine(failed)).toMatch(
      /^planner-jobs: could not create PLANNER_DATA_DIR \/proc\/1\/planner-jobs-data: ENOENT.*; set DATABASE_URL, or choose a PLANNER_DATA_DIR /,
    );
  }, 20_000);
});

/** The one line a failed run prints for the operator. */
function failureLine(result: CliResult): string {
  const lines = result.stderr.split('\n').filter((l) => l.startsWith('planner-jobs: '));
  expect(lines).toHaveLength(1);
  return lines[0];
}
