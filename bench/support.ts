import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Knex } from 'knex';
import { createKnex } from '../src/core/db.js';
import { startEmbedded, type EmbeddedServer } from '../src/core/embedded.js';
import { createLogger } from '../src/core/logger.js';

export const BIN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../bin/planner-jobs.js');

export interface BenchOptions {
  rows: number;
}

/** One line of a benchmark's table. */
export interface Measurement {
  variant: string;
  items: number;
  seconds: number;
  /** Peak resident memory of the measured process, when it was a child process. */
  peakRssMb?: number;
  note?: string;
}

export interface Benchmark {
  name: string;
  /** What is measured, for the table's title. */
  describe(options: BenchOptions): string;
  run(server: BenchServer, options: BenchOptions): Promise<Measurement[]>;
}

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
  private constructor(
    readonly adminUrl: string,
    private readonly embedded?: EmbeddedServer,
    private readonly dataDir?: string,
  ) {}

  static async start(): Promise<BenchServer> {
    const url = process.env.BENCH_DATABASE_URL;
    if (url) return new BenchServer(url);
    const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'planner-jobs-bench-'));
    await fs.chmod(dataDir, 0o755);
    const embedded = await startEmbedded(dataDir, createLogger({ level: 'warn', stream: process.stderr, pretty: false }));
    return new BenchServer(embedded.url, embedded, dataDir);
  }

  private readonly created: string[] = [];

  /** A new database: migrated and empty, or a copy of `template`. */
  async database(template?: string): Promise<{ name: string; url: string; knex: Knex }> {
    const name = `pj_bench_${randomBytes(4).toString('hex')}`;
    const admin = createKnex(this.adminUrl, 'planner-jobs:bench');
    await admin.raw(`CREATE DATABASE ${name}${template ? ` TEMPLATE ${template}` : ''}`).finally(() => admin.destroy());
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

/** Runs the real CLI in a child process; wall time and peak RSS (VmHWM, sampled until exit). */
export async function timeCli(
  args: string[],
  env: Record<string, string>,
): Promise<{ seconds: number; peakRssMb: number; code: number; stdout: string; stderr: string }> {
  const started = process.hrtime.bigint();
  const child = spawn(BIN, args, {
    env: { PATH: process.env.PATH, HOME: process.env.HOME, LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk) => (stdout += chunk));
  child.stderr.on('data', (chunk) => (stderr += chunk));
  let peakKb = 0;
  const sample = async () => {
    const status = await fs.readFile(`/proc/${child.pid}/status`, 'utf8').catch(() => '');
    const match = /VmHWM:\s+(\d+)/.exec(status);
    if (match) peakKb = Math.max(peakKb, Number(match[1]));
  };
  const timer = setInterval(sample, 20);
  const code = await new Promise<number>((resolve) => child.once('close', (c) => resolve(c ?? -1)));
  clearInterval(timer);
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  if (code !== 0) throw new Error(`planner-jobs ${args.join(' ')} exited ${code}:\n${stderr}`);
  return { seconds, peakRssMb: peakKb / 1024, code, stdout, stderr };
}

export interface JobComparison {
  /** The job's command line (its first word names the variant). */
  cli: string[];
  floor: { variant: string; items: number; run(knex: Knex): Promise<unknown> };
  /** The naive way on the first `items` rows only (it is too slow for all of them). */
  naive: { variant: string; items: number; run(knex: Knex): Promise<unknown> };
}

/**
 * The usual comparison, each variant on its own identical copy of the seeded data: the job through
 * the real CLI (wall time, peak memory), the floor and the naive way in this process.
 */
export async function compareJob(
  copy: () => Promise<{ url: string; knex: Knex }>,
  comparison: JobComparison,
): Promise<Measurement[]> {
  const job = await copy();
  await job.knex.destroy();
  const cli = await timeCli(comparison.cli, { DATABASE_URL: job.url });
  const timed = async (run: (knex: Knex) => Promise<unknown>) => {
    const db = await copy();
    try {
      return (await time(() => run(db.knex))).seconds;
    } finally {
      await db.knex.destroy();
    }
  };
  const { floor, naive } = comparison;
  return [
    {
      variant: `planner-jobs ${comparison.cli[0]} (CLI)`,
      items: JSON.parse(cli.stdout).processed,
      seconds: cli.seconds,
      peakRssMb: cli.peakRssMb,
    },
    { variant: floor.variant, items: floor.items, seconds: await timed(floor.run) },
    {
      variant: naive.variant,
      items: naive.items,
      seconds: await timed(naive.run),
      note: `first ${naive.items.toLocaleString('en')} only`,
    },
  ];
}

/** Wall time of an async function. */
export async function time<T>(fn: () => Promise<T>): Promise<{ seconds: number; value: T }> {
  const started = process.hrtime.bigint();
  const value = await fn();
  return { seconds: Number(process.hrtime.bigint() - started) / 1e9, value };
}

/** Per variant, the run with the median time (its other figures come with it), noting how many runs there were. */
export function medianOf(runs: Measurement[][]): Measurement[] {
  if (runs.length === 1) return runs[0];
  return runs[0].map((first, index) => {
    const sorted = runs.map((run) => run[index]).sort((a, b) => a.seconds - b.seconds);
    const median = sorted[Math.floor(sorted.length / 2)];
    const spread = `median of ${runs.length}: ${sorted.map((m) => m.seconds.toFixed(1)).join(' / ')} s`;
    return { ...median, note: [first.note, spread].filter(Boolean).join('; ') };
  });
}

const fmt = (n: number, digits = 2) => n.toLocaleString('en', { maximumFractionDigits: digits, minimumFractionDigits: digits });

/** Prints the table: items/s per variant, and each variant's time per item as a multiple of the floor's. */
export function printTable(title: string, rows: Measurement[]): string {
  const floor = rows.find((row) => row.variant.startsWith('floor'));
  const lines = [
    `### ${title}`,
    '',
    '| variant | items | seconds | items/s | × floor (time per item) | peak RSS MB | note |',
    '|---|---:|---:|---:|---:|---:|---|',
    ...rows.map(
      (row) =>
        `| ${row.variant} | ${row.items.toLocaleString('en')} | ${fmt(row.seconds)} | ${fmt(row.items / row.seconds, 0)} | ${floor ? fmt(row.seconds / row.items / (floor.seconds / floor.items)) : '-'} | ${row.peakRssMb === undefined ? '-' : fmt(row.peakRssMb, 0)} | ${row.note ?? ''} |`,
    ),
    '',
  ];
  const text = lines.join('\n');
  process.stdout.write(`${text}\n`);
  return text;
}
