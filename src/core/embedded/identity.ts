import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { embeddedFailure } from './failure.js';

const run = promisify(execFile);

/** The system user PostgreSQL runs as when planner-jobs runs as root. */
export const SERVER_USER_NAME = 'postgres';

/**
 * Who the server processes run as. PostgreSQL refuses to run as root, so as root they run as
 * `postgres` (`uid`/`gid` set: every server process is spawned with them); otherwise as the
 * invoking user (`uid` unset).
 */
export interface ServerUser {
  name: string;
  uid?: number;
  gid?: number;
  /** What a failure to create or start the server tells the operator to do. */
  advice: string;
}

/**
 * The server's user: the invoking user, or as root the `postgres` system user, created
 * (`useradd --system`) when missing. Throws exit 78 when it neither exists nor can be created.
 */
export async function serverUser(): Promise<ServerUser> {
  if (process.getuid?.() !== 0) {
    return { name: os.userInfo().username, advice: 'set DATABASE_URL, or choose a PLANNER_DATA_DIR you can write' };
  }
  const advice = `set DATABASE_URL, or choose a PLANNER_DATA_DIR the ${SERVER_USER_NAME} user can reach`;
  const lookup = async () => ({
    name: SERVER_USER_NAME,
    uid: Number((await run('id', ['-u', SERVER_USER_NAME])).stdout.trim()),
    gid: Number((await run('id', ['-g', SERVER_USER_NAME])).stdout.trim()),
    advice,
  });
  try {
    return await lookup();
  } catch {
    // A concurrent first run may create it between our lookup and useradd: look again before giving up.
    const created = await run('useradd', [
      '--system',
      '--user-group',
      '--no-create-home',
      '--shell',
      '/usr/sbin/nologin',
      SERVER_USER_NAME,
    ]).catch((err: unknown) => err);
    return lookup().catch(() => {
      throw embeddedFailure(
        'create the system user',
        `${SERVER_USER_NAME} (PostgreSQL refuses to run as root)`,
        created,
        `create it (useradd --system ${SERVER_USER_NAME}), run planner-jobs as a non-root user, or set DATABASE_URL`,
      );
    });
  }
}

/**
 * Whether `user` may enter `dir`: execute permission on every directory from `/` down to it,
 * judged from the owner, group and other bits (POSIX.1 §4.5 file access permissions; ACLs not
 * read). The invoking user is assumed to reach what it created.
 */
export async function reachableBy(dir: string, user: ServerUser): Promise<boolean> {
  if (user.uid === undefined) return true;
  let current = await fs.realpath(dir);
  for (;;) {
    const stat = await fs.stat(current);
    const bit = stat.uid === user.uid ? 0o100 : stat.gid === user.gid ? 0o010 : 0o001;
    if ((stat.mode & bit) === 0) return false;
    const parent = path.dirname(current);
    if (parent === current) return true;
    current = parent;
  }
}

/** Spawn options that run a child as the server user, from `/` (the invoking user's cwd may be closed to it). */
export function asServer(user: ServerUser) {
  return { uid: user.uid, gid: user.gid, cwd: '/', env: { ...process.env, LC_ALL: 'C' } };
}
