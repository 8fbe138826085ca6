import { spawnSync } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { JOB_COMMANDS } from '../src/commands/jobs.js';
import { JOB_NAMES } from '../src/core/catalog.js';
import { cli } from './support/cli.js';
import { test } from './support/db.js';

const BIN = path.resolve('bin/planner-jobs.js');

// A module-resolution hook (node:module register) that appends every URL the process resolves to
// the file named by IMPORTS_LOG: what a run really loads, not what its source seems to import.
const RECORD_IMPORTS = `import { appendFileSync } from 'node:fs';
export async function resolve(specifier, context, next) {
  const resolved = await next(specifier, context);
  appendFileSync(process.env.IMPORTS_LOG, resolved.url + '\\n');
  return resolved;
}`;
const REGISTER = `import { register } from 'node:module';
register(${JSON.stringify(`data:text/javascript,${encodeURIComponent(RECORD_IMPORTS)}`)});`;

/** The modules the real binary resolves for `args`, one URL each. */
async function modulesLoadedBy(args: string[], env: Record<string, string>): Promise<string[]> {
  const log = path.join(await fs.mkdtemp(path.join(os.tmpdir(), 'planner-imports-')), 'imports.log');
  const run = spawnSync(process.execPath, ['--import', `data:text/javascript,${encodeURIComponent(REGISTER)}`, BIN, ...args], {
    env: { PATH: process.env.PATH, HOME: process.env.HOME, IMPORTS_LOG: log, ...env },
    encoding: 'utf8',
  });
  expect(run.status, run.stderr).toBe(0);
  return (await fs.readFile(log, 'utf8')).split('\n').filter(Boolean);
}

describe('every job of the catalog is a command, described by its registry entry', () => {
  it('--help lists each job with its description', async () => {
    const run = await cli(['--help'], {});
    const help = run.stdout.replace(/\s+/g, ' ');
    for (const job of JOB_NAMES) {
      const { description } = JOB_COMMANDS[job];
      expect(help).toMatch(new RegExp(`${job}( \\[options\\])? ${description.replace(/[()[\]\\.*+?^$|{}]/g, '\\$&')}`));
    }
  });
});

describe("a job command loads only its own job's modules", () => {
  test('overdue loads its job, and neither another job nor the AWS SDK, web-push or archiver', async ({ db }) => {
    const loaded = await modulesLoadedBy(['overdue', '--dry-run'], { DATABASE_URL: db.url });
    expect(loaded.some((url) => url.includes('/jobs/overdue/'))).toBe(true);
    for (const other of [
      '/jobs/notifications/index',
      '/jobs/exports/index',
      '/jobs/rollover/',
      '/@aws-sdk/',
      '/web-push/',
      '/archiver/',
    ])
      expect(loaded.filter((url) => url.includes(other))).toEqual([]);
  });
});
