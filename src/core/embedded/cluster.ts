import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { configError, ExitError } from '../errors.js';
import type { Logger } from '../logger.js';
import { SERVER_HOME, type Binaries } from './binaries.js';
import { embeddedFailure } from './failure.js';
import { asServer, reachableBy, type ServerUser } from './identity.js';
import { stopServer } from './postmaster.js';
import { makeDirectories } from '../directories.js';

const run = promisify(execFile);

export interface Cluster {
  /** The cluster's real directory (symlinks resolved), as the server sees it. */
  pgdata: string;
  password: string;
}

const exists = (file: string) =>
  fs.access(file).then(
    () => true,
    () => false,
  );

/** `PLANNER_DATA_DIR/postgres`: the cluster itself, or a symlink to where the server user can reach it. */
export const clusterLink = (dataDir: string) => path.join(dataDir, 'postgres');
const passwordFile = (dataDir: string) => path.join(dataDir, 'password');

/**
 * Where a cluster lives when the server user cannot reach the data dir: one directory per data
 * dir (a hash of its real path), so two projects never share one, and recreating a deleted data
 * dir starts afresh rather than adopting its predecessor's cluster.
 */
export function clusterSlot(realDataDir: string): string {
  return path.join(SERVER_HOME, 'clusters', createHash('sha256').update(realDataDir).digest('hex').slice(0, 16));
}

/**
 * The data dir's cluster, created on first use (initdb, scram-sha-256, a random password kept in
 * `PLANNER_DATA_DIR/password`, 127.0.0.1 only, no Unix socket). In place under the data dir when
 * the server user can reach it; otherwise in {@link clusterSlot}, with `PLANNER_DATA_DIR/postgres`
 * a symlink to it (the location is logged on first run). Failures: exit 78 or 75 (see embeddedFailure).
 */
export async function openCluster(dataDir: string, bin: Binaries, user: ServerUser, log: Logger): Promise<Cluster> {
  const existing = await fs.realpath(clusterLink(dataDir)).catch(() => undefined);
  if (existing && (await exists(path.join(existing, 'PG_VERSION')))) {
    const password = await fs.readFile(passwordFile(dataDir), 'utf8').catch(() => {
      throw configError(
        `the embedded PostgreSQL in ${existing} has lost its password file ${passwordFile(dataDir)}; remove ${dataDir} to start afresh, or set DATABASE_URL`,
      );
    });
    return { pgdata: existing, password: password.trim() };
  }
  return createCluster(dataDir, bin, user, log).catch((err: unknown) => {
    throw err instanceof ExitError ? err : embeddedFailure('create the embedded PostgreSQL in', dataDir, err, user.advice);
  });
}

async function createCluster(dataDir: string, bin: Binaries, user: ServerUser, log: Logger): Promise<Cluster> {
  const realDataDir = await fs.realpath(dataDir);
  const link = clusterLink(dataDir);
  await fs.rm(link, { recursive: true, force: true }); // a half-made cluster of a killed first run, or a dangling symlink
  let pgdata = path.join(realDataDir, 'postgres');
  if (!(await reachableBy(realDataDir, user))) {
    const slot = clusterSlot(realDataDir);
    await prepareSlot(slot, realDataDir, user).catch((err: unknown) => {
      throw embeddedFailure('prepare the embedded PostgreSQL in', slot, err, user.advice);
    });
    pgdata = path.join(slot, 'postgres');
    await fs.symlink(pgdata, link);
    log.info(
      { cluster: slot, dataDir },
      `the ${user.name} user cannot reach ${dataDir}, so the embedded PostgreSQL cluster is kept in ${slot} (${link} points there; remove both to start afresh)`,
    );
  }
  log.info({ pgdata, binaries: bin.dir }, 'creating the embedded PostgreSQL cluster (first run)');

  const password = randomBytes(24).toString('hex');
  await fs.writeFile(passwordFile(dataDir), password, { mode: 0o600 });
  // initdb reads the password as the server user, from a file beside the cluster only that user can read.
  const initPassword = path.join(path.dirname(pgdata), '.initdb-password');
  try {
    await fs.mkdir(pgdata, { mode: 0o700 });
    await fs.writeFile(initPassword, password, { mode: 0o600 });
    if (user.uid !== undefined) {
      await fs.chown(pgdata, user.uid, user.gid!);
      await fs.chown(initPassword, user.uid, user.gid!);
    }
  } catch (err) {
    throw embeddedFailure('create the embedded PostgreSQL in', pgdata, err, user.advice);
  }
  try {
    await run(
      bin.initdb,
      ['-D', pgdata, '-U', 'postgres', '--auth=scram-sha-256', `--pwfile=${initPassword}`, '-E', 'UTF8', '--locale=C'],
      asServer(user),
    );
  } catch (err) {
    throw embeddedFailure('create the embedded PostgreSQL in', pgdata, err, user.advice);
  } finally {
    await fs.rm(initPassword, { force: true });
  }
  await fs.appendFile(
    path.join(pgdata, 'postgresql.conf'),
    "\n# planner-jobs embedded default\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = ''\nmax_connections = 50\nshared_buffers = 512MB\n",
  );
  return { pgdata, password };
}

/** An empty slot owned by the server user, naming its data dir; a predecessor's (its data dir was deleted) is stopped and removed. */
async function prepareSlot(slot: string, realDataDir: string, user: ServerUser): Promise<void> {
  await makeDirectories(SERVER_HOME, 0o755);
  await fs.chmod(SERVER_HOME, 0o755);
  await makeDirectories(path.dirname(slot), 0o711);
  if (await exists(slot)) {
    await stopServer(path.join(slot, 'postgres'));
    await fs.rm(slot, { recursive: true, force: true });
  }
  await fs.mkdir(slot, { mode: 0o700 });
  await fs.writeFile(path.join(slot, 'data-dir'), `${realDataDir}\n`);
  await fs.chown(slot, user.uid!, user.gid!);
}

/**
 * Deletes a data dir and, when its cluster was kept outside it, that cluster's slot too
 * (tests, benchmarks). The server must be stopped first.
 */
export async function removeDataDir(dataDir: string): Promise<void> {
  const link = clusterLink(dataDir);
  const target = await fs.readlink(link).catch(() => undefined);
  if (target && path.dirname(path.dirname(target)) === path.join(SERVER_HOME, 'clusters')) {
    await fs.rm(path.dirname(target), { recursive: true, force: true });
  }
  await fs.rm(dataDir, { recursive: true, force: true });
}
