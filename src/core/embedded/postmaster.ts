import { spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import type { Logger } from '../logger.js';
import type { Binaries } from './binaries.js';
import type { Cluster } from './cluster.js';
import { UNUSABLE_CLUSTER, embeddedFailure, logTail } from './failure.js';
import { asServer, type ServerUser } from './identity.js';

const READY_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 60_000;
const POLL_MS = 100;
const START_ATTEMPTS = 3;
// SQLSTATE class 28: invalid authorization; waiting will not make the password right.
const AUTH_FAILED = /^28/;

/** The postmaster a cluster records in `postmaster.pid` (pid on line 1, port on line 4), if it is alive. */
async function recordedServer(pgdata: string): Promise<{ pid: number; port: number } | undefined> {
  const text = await fs.readFile(path.join(pgdata, 'postmaster.pid'), 'utf8').catch(() => undefined);
  if (!text) return undefined;
  const [pid, , , port] = text.split('\n').map(Number);
  return (await alive(pid, pgdata)) ? { pid, port } : undefined;
}

/** Whether `pid` is still this cluster's postmaster: alive, and (where /proc exists) working in the cluster's directory. */
async function alive(pid: number, pgdata: string): Promise<boolean> {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  // A pid file that outlived a reboot may name a pid some other program now has.
  const cwd = await fs.readlink(`/proc/${pid}/cwd`).catch(() => undefined);
  return cwd === undefined || cwd === pgdata;
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

/** Resolves once the server accepts the cluster's password on 127.0.0.1:`port`; rejects on a password refusal, `gaveUp`, or the deadline. */
async function ready(cluster: Cluster, port: number, gaveUp: () => boolean | Promise<boolean>): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  for (;;) {
    const client = new pg.Client({
      host: '127.0.0.1',
      port,
      user: 'postgres',
      password: cluster.password,
      database: 'postgres',
      connectionTimeoutMillis: 2_000,
    });
    try {
      await client.connect();
      await client.end();
      return;
    } catch (err) {
      await client.end().catch(() => undefined);
      const code = (err as { code?: string }).code ?? '';
      if (AUTH_FAILED.test(code) || (await gaveUp()) || Date.now() > deadline) throw err;
    }
    await sleep(POLL_MS);
  }
}

/**
 * The port of the cluster's server, ready: one a killed run left running is adopted, else the
 * postmaster is spawned directly (no shell, detached so it outlives a killed run, its output
 * appended to `server.log` in the cluster), retried on another port when the chosen one was taken.
 * Throws exit 75 (78 for a permission fault or a damaged / other-version cluster) with the server
 * log's tail when the server refused.
 */
export async function startServer(cluster: Cluster, bin: Binaries, user: ServerUser, log: Logger): Promise<number> {
  const left = await recordedServer(cluster.pgdata);
  if (left) {
    log.info({ pid: left.pid, port: left.port }, 'adopting the embedded PostgreSQL a previous run left running');
    await ready(cluster, left.port, async () => !(await alive(left.pid, cluster.pgdata))).catch((err: unknown) => {
      throw embeddedFailure(
        `reach the embedded PostgreSQL (pid ${left.pid}, port ${left.port}) recorded in`,
        path.join(cluster.pgdata, 'postmaster.pid'),
        err,
        `stop that process; ${user.advice}`,
      );
    });
    return left.port;
  }
  const logFile = path.join(cluster.pgdata, 'server.log');
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    log.debug({ pgdata: cluster.pgdata, port }, 'starting the embedded PostgreSQL');
    const from = (await fs.stat(logFile).catch(() => undefined))?.size ?? 0;
    let exited: Error | undefined;
    try {
      const out = await fs.open(logFile, 'a', 0o600);
      try {
        if (user.uid !== undefined) await out.chown(user.uid, user.gid!); // so pg_ctl as the server user can append too
        const child = spawn(bin.postgres, ['-D', cluster.pgdata, '-p', String(port)], {
          ...asServer(user),
          detached: true,
          stdio: ['ignore', out.fd, out.fd],
        });
        child.once('error', (err) => (exited = err));
        child.once('exit', (code, signal) => (exited ??= new Error(`the server exited (${signal ?? `code ${code}`})`)));
        child.unref();
      } finally {
        await out.close();
      }
      await ready(cluster, port, () => exited !== undefined);
      return port;
    } catch (err) {
      const tail = logTail((await fs.readFile(logFile, 'utf8').catch(() => '')).slice(from));
      if (exited && /could not bind|already in use/i.test(tail) && attempt < START_ATTEMPTS) continue;
      await stopServer(cluster.pgdata);
      const advice = UNUSABLE_CLUSTER.test(tail)
        ? `move ${cluster.pgdata} aside (the next run creates a new, empty one) or set DATABASE_URL`
        : user.advice;
      throw embeddedFailure('start the embedded PostgreSQL in', cluster.pgdata, exited ?? err, advice, tail);
    }
  }
}

/** Fast shutdown (SIGINT: roll back open transactions, then stop) of the cluster's server, and wait for its process to go. */
export async function stopServer(pgdata: string, log?: Logger): Promise<void> {
  const server = await recordedServer(pgdata);
  if (!server) return;
  try {
    process.kill(server.pid, 'SIGINT');
  } catch {
    return; // gone already
  }
  const deadline = Date.now() + STOP_TIMEOUT_MS;
  while (await alive(server.pid, pgdata)) {
    if (Date.now() > deadline) {
      log?.warn(
        { pid: server.pid, pgdata },
        `the embedded PostgreSQL did not stop within ${STOP_TIMEOUT_MS / 1000} s; leaving it for the next run to adopt`,
      );
      return;
    }
    await sleep(POLL_MS);
  }
}
