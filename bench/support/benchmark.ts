/** What a benchmark is and returns, and the usual job-against-floor-and-naive comparison. */
import type { Knex } from 'knex';
import type { BenchServer } from './server.js';
import { time, timeCli, timing } from './measure.js';

export interface BenchOptions {
  rows: number;
}

/** One line of a benchmark's table. */
export interface Measurement {
  variant: string;
  items: number;
  seconds: number;
  /** Threads doing the measured side's work, over all its processes (the database server's not counted). */
  threads: number;
  /** One sentence for the README: what ran, against what, on how many threads. */
  compared: string;
  /** The variant of this row's own floor (e.g. the JSON export's); unset: the benchmark's first floor row. */
  floorVariant?: string;
  /** Peak resident memory of the measured process (the sum over its processes), when it was a child process. */
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
  /** Figures of this run a target is set for (e.g. CPU per message as a multiple of the encryption's); with --repeat, the median of each. */
  figures?: Record<string, number>;
}

export interface Benchmark {
  name: string;
  /** The most rows `bench -- all` gives it, when its work does not grow with --rows (the queue comparison's 20,000 sends). */
  maxRowsInAll?: number;
  /** What is measured, for the table's title. */
  describe(options: BenchOptions): string;
  run(server: BenchServer, options: BenchOptions): Promise<Measurement[]>;
}

/** A variant run in this process on its own copy of the data. */
interface InProcessVariant {
  variant: string;
  items: number;
  /** The README's sentence (see `Measurement.compared`). */
  compared: string;
  run(knex: Knex): Promise<unknown>;
}

export interface JobComparison {
  /** The job's command line (its first word names the variant). */
  cli: string[];
  /** Extra environment for the CLI (a setting the floor and the naive way also follow). */
  env?: Record<string, string>;
  floor: InProcessVariant;
  /** The naive way on the first `items` rows only (it is too slow for all of them). */
  naive: InProcessVariant;
}

/** The sentence of a CLI row: the real binary in its own process (one thread and one connection unless `how` says otherwise), start-up included. */
export const cliCompared = (command: string, how = 'one thread, one database connection') =>
  `\`planner-jobs ${command}\` as cron runs it: its own process, ${how}, start-up included.`;

/**
 * The usual comparison, each variant on its own identical copy of the seeded data: the job through
 * the real CLI (wall time, peak memory), the floor and the naive way in this process (one thread
 * each, one connection).
 */
export async function compareJob(
  copy: () => Promise<{ url: string; knex: Knex }>,
  comparison: JobComparison,
): Promise<Measurement[]> {
  const job = await copy();
  await job.knex.destroy();
  const cli = await timeCli(comparison.cli, { DATABASE_URL: job.url, ...comparison.env });
  const timed = async ({ variant, items, compared, run }: InProcessVariant) => {
    const db = await copy();
    try {
      return { variant, items, compared, threads: 1, ...timing(await time(() => run(db.knex))) };
    } finally {
      await db.knex.destroy();
    }
  };
  const { floor, naive } = comparison;
  return [
    {
      variant: `planner-jobs ${comparison.cli[0]} (CLI)`,
      items: JSON.parse(cli.stdout).processed,
      threads: 1,
      compared: cliCompared(comparison.cli[0]),
      ...timing(cli),
      peakRssMb: cli.peakRssMb,
    },
    await timed(floor),
    { ...(await timed(naive)), note: `first ${naive.items.toLocaleString('en')} only` },
  ];
}
