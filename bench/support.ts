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
  /** CPU time (user + system) of the measured process: the child's, or this process's for a variant run in-process. */
  cpuSeconds?: number;
  /** CPU time of the database server (PostgreSQL; plus Redis for BullMQ) during the variant, when it runs on this machine. */
  serverCpuSeconds?: number;
  /** Peak connections to the benchmark databases (pg_stat_activity, sampled every 50 ms). */
  dbConnections?: number;
  /** Peak Redis clients the variant added (BullMQ). */
  redisClients?: number;
  note?: string;
}

export interface Benchmark {
  name: string;
  /** The most rows `bench -- all` gives it, when its work does not grow with --rows (the queue comparison's 20,000 sends). */
  maxRowsInAll?: number;
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

/** USER_HZ, the unit of the CPU times in /proc/<pid>/stat: 100 on every Linux Node runs on. */
const CLOCK_TICKS_PER_SECOND = 100;
// Indexes into procStat's fields (proc(5) numbers them from 1, with pid and comm first).
const PPID = 1;
const [UTIME, STIME, CUTIME, CSTIME] = [11, 12, 13, 14];

/** The fields of /proc/<pid>/stat after the command name (which may contain spaces); undefined once it has exited. */
async function procStat(pid: number | 'self'): Promise<string[] | undefined> {
  const text = await fs.readFile(`/proc/${pid}/stat`, 'utf8').catch(() => undefined);
  return text?.slice(text.lastIndexOf(')') + 2).split(' ');
}

const cpuSecondsOf = (fields: string[], ...indexes: number[]) =>
  indexes.reduce((sum, index) => sum + Number(fields[index]), 0) / CLOCK_TICKS_PER_SECOND;

/** CPU seconds of the children this process has waited for: the kernel adds a child's whole time when it is reaped. */
async function reapedChildrenCpuSeconds(): Promise<number> {
  return cpuSecondsOf((await procStat('self'))!, CUTIME, CSTIME);
}

/** CPU seconds of a server's process tree: the parent, the children it has reaped, and those still running. */
async function processTreeCpuSeconds(pid: number): Promise<number | undefined> {
  const parent = await procStat(pid);
  if (!parent) return undefined;
  let total = cpuSecondsOf(parent, UTIME, STIME, CUTIME, CSTIME);
  for (const entry of await fs.readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const fields = await procStat(Number(entry));
    if (fields?.[PPID] === String(pid)) total += cpuSecondsOf(fields, UTIME, STIME);
  }
  return total;
}

export type Resources = Pick<Measurement, 'cpuSeconds' | 'serverCpuSeconds' | 'dbConnections'>;

/** Connections are sampled this often: a short CLI run holds its connection for a few hundred milliseconds. */
const SAMPLE_EVERY_MS = 50;

/**
 * Runs `section`, sampling every 50 ms the connections to the benchmark's databases; CPU time is
 * `cpuSeconds()` read before and after, and the database server's over the same span.
 */
async function measured<T>(
  section: () => Promise<T>,
  cpuSeconds: () => Promise<number>,
): Promise<{ seconds: number; value: T } & Resources> {
  const server = BenchServer.current;
  let dbConnections = 0;
  const sample = () =>
    server
      ?.connections()
      .then((count) => (dbConnections = Math.max(dbConnections, count)))
      .catch(() => undefined);
  const [cpuBefore, serverCpuBefore] = await Promise.all([cpuSeconds(), server?.serverCpuSeconds()]);
  const timer = setInterval(sample, SAMPLE_EVERY_MS);
  const started = process.hrtime.bigint();
  let value: T;
  try {
    value = await section();
  } finally {
    clearInterval(timer);
  }
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const [cpuAfter, serverCpuAfter] = await Promise.all([cpuSeconds(), server?.serverCpuSeconds(), sample()]);
  const resources: Resources = {
    cpuSeconds: cpuAfter - cpuBefore,
    serverCpuSeconds:
      serverCpuBefore === undefined || serverCpuAfter === undefined ? undefined : serverCpuAfter - serverCpuBefore,
    dbConnections: server ? dbConnections : undefined,
  };
  return { seconds, value, ...resources };
}

export interface ProcessRun extends Resources {
  seconds: number;
  peakRssMb: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs a command in a child process: wall time, peak RSS (VmHWM, sampled until exit), its CPU
 * time (counted when it is reaped), the benchmark databases' peak connections. It must exit 0.
 */
export async function timeProcess(command: string, args: string[], env: Record<string, string>): Promise<ProcessRun> {
  let stdout = '';
  let stderr = '';
  let peakKb = 0;
  const run = await measured(async () => {
    const child = spawn(command, args, {
      env: { PATH: process.env.PATH, HOME: process.env.HOME, LOG_LEVEL: 'warn', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout.on('data', (chunk) => (stdout += chunk));
    child.stderr.on('data', (chunk) => (stderr += chunk));
    const sample = async () => {
      const status = await fs.readFile(`/proc/${child.pid}/status`, 'utf8').catch(() => '');
      const match = /VmHWM:\s+(\d+)/.exec(status);
      if (match) peakKb = Math.max(peakKb, Number(match[1]));
    };
    const timer = setInterval(sample, 20);
    const code = await new Promise<number>((resolve) => child.once('close', (c) => resolve(c ?? -1)));
    clearInterval(timer);
    return code;
  }, reapedChildrenCpuSeconds);
  if (run.value !== 0) throw new Error(`${path.basename(command)} ${args.join(' ')} exited ${run.value}:\n${stderr}`);
  const { seconds, cpuSeconds, serverCpuSeconds, dbConnections } = run;
  return { seconds, cpuSeconds, serverCpuSeconds, dbConnections, peakRssMb: peakKb / 1024, stdout, stderr };
}

/** Runs the real CLI in a child process (see `timeProcess`). */
export function timeCli(args: string[], env: Record<string, string>): Promise<ProcessRun> {
  return timeProcess(BIN, args, env);
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
      return timing(await time(() => run(db.knex)));
    } finally {
      await db.knex.destroy();
    }
  };
  const { floor, naive } = comparison;
  return [
    {
      variant: `planner-jobs ${comparison.cli[0]} (CLI)`,
      items: JSON.parse(cli.stdout).processed,
      ...timing(cli),
      peakRssMb: cli.peakRssMb,
    },
    { variant: floor.variant, items: floor.items, ...(await timed(floor.run)) },
    {
      variant: naive.variant,
      items: naive.items,
      ...(await timed(naive.run)),
      note: `first ${naive.items.toLocaleString('en')} only`,
    },
  ];
}

/** A row's timing figures from a `time` or `timeProcess` result. */
export const timing = ({ seconds, cpuSeconds, serverCpuSeconds, dbConnections }: { seconds: number } & Resources) => ({
  seconds,
  cpuSeconds,
  serverCpuSeconds,
  dbConnections,
});

/** Wall time of an async function run in this process, with this process's CPU time and the databases' connections. */
export function time<T>(fn: () => Promise<T>): Promise<{ seconds: number; value: T } & Resources> {
  return measured(fn, async () => {
    const { user, system } = process.cpuUsage();
    return (user + system) / 1e6;
  });
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
/** Ratios far from 1 with two significant digits (0.045, 22), near it with two decimals. */
const fmtRatio = (ratio?: number) =>
  ratio === undefined ? '-' : ratio >= 10 || ratio < 0.1 ? String(Number(ratio.toPrecision(2))) : fmt(ratio);
const fmtOptional = (n: number | undefined, digits: number) => (n === undefined ? '-' : fmt(n, digits));

/** A table row: the measurement and its ratios to its benchmark's floor and naive rows (time per item). */
export interface Row extends Measurement {
  /** Undefined for a variant that did not run (skipped: no items, no time). */
  itemsPerSecond?: number;
  timesFloor?: number;
  timesNaive?: number;
}

export function withRatios(rows: Measurement[]): Row[] {
  const perItem = (row: Measurement) => row.seconds / row.items;
  const floor = rows.find((row) => row.variant.startsWith('floor'));
  const naive = rows.find((row) => row.variant.startsWith('naive'));
  return rows.map((row) => {
    if (row.items === 0 || row.seconds === 0) return row;
    return {
      ...row,
      itemsPerSecond: row.items / row.seconds,
      timesFloor: floor && perItem(row) / perItem(floor),
      timesNaive: naive && perItem(row) / perItem(naive),
    };
  });
}

const HEADER = [
  'variant',
  'items',
  'seconds',
  'items/s',
  '× floor',
  '× naive',
  'CPU s',
  'DB server CPU s',
  'peak RSS MB',
  'DB connections',
  'note',
];
const ALIGN = ['---', '---:', '---:', '---:', '---:', '---:', '---:', '---:', '---:', '---:', '---'];

/** Markdown table cells cannot hold a bare `|` or a line break. */
const cellText = (text: string) => text.replace(/\|/g, '\\|').replace(/\n/g, ' ');

const cells = (row: Row) => [
  cellText(row.variant),
  row.items.toLocaleString('en'),
  fmt(row.seconds),
  fmtOptional(row.itemsPerSecond, 0),
  fmtRatio(row.timesFloor),
  fmtRatio(row.timesNaive),
  fmtOptional(row.cpuSeconds, 2),
  fmtOptional(row.serverCpuSeconds, 2),
  fmtOptional(row.peakRssMb, 0),
  row.dbConnections === undefined
    ? '-'
    : `${row.dbConnections}${row.redisClients === undefined ? '' : ` + ${row.redisClients} Redis`}`,
  cellText(row.note ?? ''),
];
const markdownRow = (values: string[]) => `| ${values.join(' | ')} |`;

/** What the columns mean, under every table file. */
export const LEGEND =
  "× floor, × naive: time per item as a multiple of the floor's and the naive way's (below 1: faster). CPU s: user + system time of " +
  'the measured process (the CLI or worker child process; this benchmark process for in-process variants). DB server CPU s: the ' +
  'PostgreSQL server (and Redis, for BullMQ) over the same span, when it runs on this machine. DB connections: peak pg_stat_activity ' +
  'rows for the benchmark databases, sampled every 50 ms (Redis: peak connected clients above the idle count).';

/** Prints one benchmark's table: items/s per variant, time per item against the floor and the naive way, resources. */
export function printTable(title: string, rows: Measurement[]): string {
  const text = [
    `### ${title}`,
    '',
    markdownRow(HEADER),
    markdownRow(ALIGN),
    ...withRatios(rows).map((row) => markdownRow(cells(row))),
    '',
  ].join('\n');
  process.stdout.write(`${text}\n`);
  return text;
}

/** One benchmark's rows in `bench -- all`. */
export interface JobRows {
  job: string;
  title: string;
  rows: Row[];
}

/** Every benchmark's rows in one table, a job column first; ratios stay within each job. */
export function combinedTable(jobs: JobRows[]): string {
  return [
    markdownRow(['job', ...HEADER]),
    markdownRow(['---', ...ALIGN]),
    ...jobs.flatMap(({ job, rows }) => rows.map((row) => markdownRow([job, ...cells(row)]))),
    '',
    LEGEND,
    '',
  ].join('\n');
}
