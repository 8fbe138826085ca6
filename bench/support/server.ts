import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Knex } from 'knex';
import { createKnex } from '../../src/core/db.js';
import { startEmbedded, type EmbeddedServer } from '../../src/core/embedded.js';
import { createLogger } from '../../src/core/logger.js';
import { PPID, procStat, processTreeCpuSeconds } from './cpu.js';

const serverUrl = (url: string, database: string) => {
  const parsed = new URL(url);
  parsed.pathname = `/${database}`;
  return parsed.toString();
};

/**
 * The PostgreSQL the benchmarks use: BENCH_DATABASE_URL (a server where it may create
 * databases), else an embedded one in a temporary directory. Data is seeded once into a
 * database that each variant then copies, so every variant starts from identical rows.
 */
export class BenchServer {
  /** Samples pg_stat_activity, on the admin database (never one of the benchmark's). */
  private readonly monitor: Knex;

  private constructor(
    readonly adminUrl: string,
    private readonly embedded?: EmbeddedServer,
    private readonly dataDir?: string,
  ) {
    this.monitor = createKnex(adminUrl, 'planner-jobs:bench-monitor');
  }

  /** The server of the running benchmark: `time` and `timeCli` sample its connections and CPU. */
  static current?: BenchServer;

  static async start(): Promise<BenchServer> {
    const url = process.env.BENCH_DATABASE_URL;
    if (url) return BenchServer.started(new BenchServer(url));
    const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'planner-jobs-bench-'));
    await fs.chmod(dataDir, 0o755);
    const embedded = await startEmbedded(dataDir, createLogger({ level: 'warn', stream: process.stderr, pretty: false }));
    return BenchServer.started(new BenchServer(embedded.url, embedded, dataDir));
  }

  private static async started(server: BenchServer): Promise<BenchServer> {
    // Our own backend's parent is the postmaster; its process tree is the server's CPU, when it runs on this machine.
    const { rows } = await server.monitor.raw<{ rows: { pid: number }[] }>('SELECT pg_backend_pid() AS pid');
    const ppid = Number((await procStat(rows[0].pid))?.[PPID]);
    if (ppid > 1) server.postmasterPid = ppid;
    BenchServer.current = server;
    return server;
  }

  private postmasterPid?: number;

  /** Connections to the benchmark's databases now (this monitor's own is on the admin database). */
  async connections(): Promise<number> {
    const { rows } = await this.monitor.raw<{ rows: { count: number }[] }>(
      `SELECT count(*)::int AS count FROM pg_stat_activity WHERE datname LIKE 'pj\\_bench\\_%' AND backend_type = 'client backend'`,
    );
    return rows[0].count;
  }

  /** "PostgreSQL 18.1", for the tables' machine line. */
  async version(): Promise<string> {
    const { rows } = await this.monitor.raw<{ rows: { version: string }[] }>(
      `SELECT 'PostgreSQL ' || current_setting('server_version') AS version`,
    );
    return rows[0].version;
  }

  /** CPU seconds the PostgreSQL server has used so far (undefined when it is not on this machine). */
  serverCpuSeconds(): Promise<number | undefined> {
    return this.postmasterPid ? processTreeCpuSeconds(this.postmasterPid) : Promise.resolve(undefined);
  }

  private readonly created: string[] = [];

  /** A new database: migrated and empty, or a copy of `template`. */
  async database(template?: string): Promise<{ name: string; url: string; knex: Knex }> {
    const name = `pj_bench_${randomBytes(4).toString('hex')}`;
    const admin = createKnex(this.adminUrl, 'planner-jobs:bench');
    try {
      await admin.raw(`CREATE DATABASE ${name}${template ? ` TEMPLATE ${template}` : ''}`);
    } finally {
      await admin.destroy();
    }
    this.created.push(name);
    const url = serverUrl(this.adminUrl, name);
    const knex = createKnex(url, 'planner-jobs:bench');
    if (!template) await knex.migrate.latest();
    return { name, url, knex };
  }

  /** Seeds once with `seed`, then hands out identical copies, one per variant. */
  async seeded(seed: (knex: Knex) => Promise<void>): Promise<() => Promise<{ url: string; knex: Knex }>> {
    const source = await this.database();
    await seed(source.knex);
    await source.knex.raw('VACUUM ANALYZE');
    await source.knex.destroy();
    return () => this.database(source.name);
  }

  private stopping?: Promise<void>;

  /** Idempotent: an embedded server is stopped and its directory removed; on a server of yours, the databases are dropped. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      await this.monitor.destroy();
      if (this.embedded) {
        try {
          await this.embedded.release();
        } finally {
          await fs.rm(this.dataDir!, { recursive: true, force: true });
        }
        return;
      }
      const admin = createKnex(this.adminUrl, 'planner-jobs:bench');
      try {
        for (const name of this.created.reverse()) await admin.raw(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } finally {
        await admin.destroy();
      }
    })();
    return this.stopping;
  }
}
