import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Command, InvalidArgumentError } from 'commander';
import type { Knex } from 'knex';
import * as prettier from 'prettier';
import { createKnex } from '../src/core/db.js';
import { seedOverdue } from './overdue.js';
import { seedRecurring } from './recurring.js';
import { seedReminders } from './reminders.js';
import { BenchServer, timeCli, type ProcessRun } from './support.js';

/**
 * How a run's cost grows with the table, in two series per job:
 * - `grow`: the per-job benchmark's seed at N rows, so the work grows with the table (time ~ N);
 * - `fixed`: the seed at BASE rows plus N - BASE rows of the same table the job must leave alone
 *   (done, or due in the future), so the work stays fixed while the table grows (time ~ flat).
 * Each point is a fresh database, migrated (every production index present), seeded set-based,
 * vacuumed and analysed, then the real CLI in a child process; the database is dropped at once.
 */

// The per-job benchmarks' now: their seeds are relative to it.
const NOW = '2025-06-01T12:00:00Z';
const BASE = 100_000;
const RESULTS = 'bench/results';
const DOC = 'docs/scaling.md';
/** The blocks of docs/scaling.md that `publish` rewrites: the two series, and the snapshot-held one. */
const MARKS = { series: 'scale', snapshot: 'scale-snapshot' } as const;
const ZONES = 320;
/** The run may take as long as it needs: the default budgets (50 s for reminders) would cut a big backlog into several runs. */
const NO_BUDGET = ['--max-runtime', '36000'];

type Mode = 'grow' | 'fixed';

interface ScaleJob {
  name: string;
  /** The table that grows, whose size the tables report. */
  table: string;
  /** What one seeded row of the grow series is, and what the filler rows are. */
  describe: string;
  /** Rows the job should process from `seed(rows)`. */
  eligible(rows: number): number;
  seed(knex: Knex, rows: number): Promise<void>;
  /** `rows` more rows of `table` the job must not touch. */
  fill(knex: Knex, rows: number): Promise<void>;
  cli: string[];
  /** The step whose claims the snapshot series times (its counter). */
  step: string;
}

/** The region zones rollover's benchmark spreads its users over. */
const REGION_ZONES = `(SELECT array_agg(name ORDER BY name) AS names FROM (
    SELECT name FROM pg_timezone_names WHERE name ~ '^(Africa|America|Antarctica|Asia|Atlantic|Australia|Europe|Indian|Pacific)/'
    ORDER BY name LIMIT ${ZONES}) z) zones`;

/**
 * `count` users over 320 zones whose last closed day is `daysBack` days before their local today
 * (2: local yesterday is due; 1: already rolled over).
 */
const insertRolloverUsers = (knex: Knex, count: number, daysBack: number, prefix: string) =>
  knex.raw(
    `INSERT INTO users (email, timezone, last_rollover_date)
     SELECT :prefix || i || '@example.test', zone, (:now::timestamptz AT TIME ZONE zone)::date - :daysBack::int
       FROM generate_series(1, :count) i, ${REGION_ZONES}, LATERAL (SELECT zones.names[1 + i % ${ZONES}] AS zone) z`,
    { count, daysBack, prefix, now: NOW },
  );

/**
 * Lighter than the rollover benchmark's seed (10 plan tasks and 5 routine tasks a user), so
 * millions of users fit: each due user has one plan task and one routine task for local
 * yesterday, both done, so every part of the close runs (score, streak, routine reset).
 */
async function seedRolloverLight(knex: Knex, rows: number): Promise<void> {
  await insertRolloverUsers(knex, rows, 2, 'due-');
  const completedYesterday = `((u.last_rollover_date + 1) + time '12:00') AT TIME ZONE u.timezone`;
  await knex.raw(`INSERT INTO daily_plans (user_id, plan_date) SELECT id, last_rollover_date + 1 FROM users`);
  await knex.raw(
    `INSERT INTO tasks (user_id, title, completed, completed_at) SELECT u.id, 'Task', true, ${completedYesterday} FROM users u`,
  );
  await knex.raw(
    `INSERT INTO daily_plan_tasks (plan_id, task_id) SELECT p.id, t.id FROM daily_plans p JOIN tasks t ON t.user_id = p.user_id`,
  );
  await knex.raw(`INSERT INTO daily_routines (user_id, title) SELECT id, 'Morning' FROM users`);
  await knex.raw(
    `INSERT INTO routine_tasks (routine_id, user_id, title, completed, completed_at, position)
     SELECT r.id, u.id, 'Step', true, ${completedYesterday}, 1 FROM daily_routines r JOIN users u ON u.id = r.user_id`,
  );
}

const JOBS: ScaleJob[] = [
  {
    name: 'overdue',
    table: 'tasks',
    describe:
      'overdue: every seeded task open and past due (the overdue benchmark); filler: half completed in the past, half open and due in the future',
    eligible: (rows) => rows,
    seed: seedOverdue,
    fill: (knex, rows) =>
      knex.raw(
        `INSERT INTO tasks (user_id, title, due_date, completed, completed_at)
         SELECT u.ids[1 + i % cardinality(u.ids)], 'Filler ' || i,
                CASE WHEN i % 2 = 0 THEN :now::timestamptz - (i % 100000) * interval '1 minute'
                     ELSE :now::timestamptz + interval '1 minute' + (i % 100000) * interval '1 minute' END,
                i % 2 = 0, CASE WHEN i % 2 = 0 THEN :now::timestamptz - (i % 100000) * interval '1 minute' END
           FROM generate_series(1, :rows) i, (SELECT array_agg(id) AS ids FROM users) u`,
        { rows, now: NOW },
      ),
    cli: ['overdue'],
    step: 'marked_overdue',
  },
  {
    name: 'recurring',
    table: 'tasks',
    describe:
      'recurring: the recurring benchmark (one task in five eligible, owners over every region zone); filler: recurring tasks already processed, or open and due in the future',
    eligible: (rows) => Math.floor(rows / 5),
    seed: seedRecurring,
    fill: (knex, rows) =>
      knex.raw(
        `INSERT INTO tasks (user_id, title, due_date, completed, completed_at, is_recurring, recurrence_type, last_processed_at)
         SELECT u.ids[1 + i % cardinality(u.ids)], 'Filler ' || i,
                :now::timestamptz + CASE WHEN i % 2 = 0 THEN -1 ELSE 1 END * (1 + i % 20000) * interval '1 minute',
                i % 2 = 0, CASE WHEN i % 2 = 0 THEN :now::timestamptz - interval '1 minute' END,
                true, 'daily', CASE WHEN i % 2 = 0 THEN :now::timestamptz END
           FROM generate_series(1, :rows) i, (SELECT array_agg(id) AS ids FROM users) u`,
        { rows, now: NOW },
      ),
    cli: ['recurring'],
    step: 'instances_created',
  },
  {
    name: 'reminders',
    table: 'reminders',
    describe:
      'reminders: every seeded reminder due, of an open task (the reminders benchmark); filler: half already sent, half due in the future',
    eligible: (rows) => rows,
    seed: seedReminders,
    fill: (knex, rows) =>
      knex.raw(
        `INSERT INTO reminders (user_id, remind_at, sent, sent_at, outcome)
         SELECT u.ids[1 + i % cardinality(u.ids)], at, i % 2 = 0, CASE WHEN i % 2 = 0 THEN at END, CASE WHEN i % 2 = 0 THEN 'queued' END
           FROM generate_series(1, :rows) i, (SELECT array_agg(id) AS ids FROM users) u,
                LATERAL (SELECT :now::timestamptz + CASE WHEN i % 2 = 0 THEN -1 ELSE 1 END * (1 + i % 100000) * interval '1 minute' AS at) a`,
        { rows, now: NOW },
      ),
    cli: ['reminders'],
    step: 'queued',
  },
  {
    name: 'rollover',
    table: 'users',
    describe:
      'rollover: users over 320 zones, each closing local yesterday with one plan task and one routine task (lighter than the rollover benchmark); filler: users already rolled over',
    eligible: (rows) => rows,
    seed: seedRolloverLight,
    fill: (knex, rows) => insertRolloverUsers(knex, rows, 1, 'done-'),
    cli: ['rollover'],
    step: 'rolled_over',
  },
];

interface Point {
  job: string;
  mode: Mode;
  /** Rows of the job's table before the run. */
  rows: number;
  eligible: number;
  processed: number;
  /** The median run's. */
  seconds: number;
  /** Every run's, in order. */
  runSeconds: number[];
  peakRssMb: number;
  cpuSeconds?: number;
  serverCpuSeconds?: number;
  /** The job's table with its indexes and TOAST, before the run. */
  tableMb: number;
  /** Seeding, VACUUM ANALYZE included. */
  seedSeconds: number;
  /** Whether the secondary indexes were built after the load (`withIndexesBuiltAfter`) rather than kept up to date row by row. */
  indexesBuiltAfterLoad?: boolean;
  date: string;
}

interface Results {
  machine: string;
  points: Point[];
  /** The snapshot-held series (`--snapshot`). */
  snapshot?: SnapshotPoint[];
}

const dropDatabase = async (server: BenchServer, name: string) => {
  // Dropped at once, not when the server stops: 10M-row databases fill the disk.
  const admin = createKnex(server.adminUrl, 'planner-jobs:bench');
  try {
    await admin.raw(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  } finally {
    await admin.destroy();
  }
};

/**
 * Runs `load` with the secondary indexes (those backing no constraint) dropped, then builds them
 * again, as a restore would: ten million rows load several times faster than with every index
 * kept up to date row by row, and the run still finds every index the migrations create.
 */
async function withIndexesBuiltAfter(knex: Knex, load: () => Promise<void>): Promise<void> {
  const { rows: indexes } = await knex.raw<{ rows: { name: string; definition: string }[] }>(
    `SELECT i.indexrelid::regclass::text AS name, pg_get_indexdef(i.indexrelid) AS definition
       FROM pg_index i JOIN pg_class t ON t.oid = i.indrelid
      WHERE t.relnamespace = 'public'::regnamespace AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)`,
  );
  for (const index of indexes) await knex.raw(`DROP INDEX ${index.name}`);
  await load();
  await knex.transaction(async (trx) => {
    await trx.raw(`SET LOCAL maintenance_work_mem = '512MB'`);
    for (const index of indexes) await trx.raw(index.definition);
  });
}

/**
 * Seeds once, then runs the CLI `repeat` times, each on its own copy of the seeded database
 * (`CREATE DATABASE … TEMPLATE`: same rows, statistics and visibility map), and keeps the median
 * run: the machine is shared and noisy. With one run, the seeded database itself is used.
 */
async function measure(server: BenchServer, job: ScaleJob, mode: Mode, rows: number, repeat: number): Promise<Point> {
  const seedRows = mode === 'grow' ? rows : BASE;
  const source = await server.database();
  try {
    const seedStarted = process.hrtime.bigint();
    await withIndexesBuiltAfter(source.knex, async () => {
      await job.seed(source.knex, seedRows);
      if (rows > seedRows) await job.fill(source.knex, rows - seedRows);
    });
    await source.knex.raw('VACUUM ANALYZE');
    const seedSeconds = Number(process.hrtime.bigint() - seedStarted) / 1e9;
    const { rows: sizes } = await source.knex.raw<{ rows: { count: number; bytes: string }[] }>(
      `SELECT (SELECT count(*)::int FROM ${job.table}) AS count, pg_total_relation_size(:table) AS bytes`,
      { table: job.table },
    );
    await source.knex.destroy();
    const runs: ProcessRun[] = [];
    for (let i = 0; i < repeat; i++) {
      const copy = repeat === 1 ? source : await server.database(source.name);
      if (copy !== source) await copy.knex.destroy();
      try {
        runs.push(await timeCli([...job.cli, '--now', NOW, '--json', ...NO_BUDGET], { DATABASE_URL: copy.url }));
      } finally {
        if (copy !== source) await dropDatabase(server, copy.name);
      }
    }
    const median = [...runs].sort((a, b) => a.seconds - b.seconds)[Math.floor(runs.length / 2)];
    return {
      job: job.name,
      mode,
      rows: sizes[0].count,
      eligible: job.eligible(seedRows),
      processed: JSON.parse(median.stdout).processed,
      seconds: median.seconds,
      runSeconds: runs.map((run) => run.seconds),
      peakRssMb: median.peakRssMb,
      cpuSeconds: median.cpuSeconds,
      serverCpuSeconds: median.serverCpuSeconds,
      tableMb: Number(sizes[0].bytes) / 2 ** 20,
      seedSeconds,
      indexesBuiltAfterLoad: true,
      date: new Date().toISOString(),
    };
  } finally {
    await source.knex.destroy();
    await dropDatabase(server, source.name);
  }
}

/** One snapshot-held run: the claim time of every batch of the job's main step, in order. */
interface SnapshotPoint {
  job: string;
  rows: number;
  processed: number;
  seconds: number;
  claimMs: number[];
  date: string;
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

/**
 * The grow seed at `rows`, then the CLI while a second connection holds a snapshot throughout
 * (REPEATABLE READ, one read, left open: a long report, `pg_dump`, an idle-in-transaction client).
 * Vacuum can then remove no row version the run leaves behind, so a claim that restarted from the
 * start of its index would step over every row already processed; a keyset claim stays flat. The
 * claim times come from the run's own debug lines (`claimMs` of each `batch committed`).
 */
async function measureWithSnapshot(server: BenchServer, job: ScaleJob, rows: number): Promise<SnapshotPoint> {
  const source = await server.database();
  try {
    await withIndexesBuiltAfter(source.knex, () => job.seed(source.knex, rows));
    await source.knex.raw('VACUUM ANALYZE');
    const holder = await source.knex.transaction({ isolationLevel: 'repeatable read' });
    try {
      await holder.raw('SELECT count(*) FROM users');
      const run = await timeCli([...job.cli, '--now', NOW, '--json', ...NO_BUDGET], {
        DATABASE_URL: source.url,
        LOG_LEVEL: 'debug',
      });
      const claimMs = run.stderr
        .split('\n')
        .filter((line) => line.startsWith('{'))
        .map((line) => JSON.parse(line) as { msg?: string; step?: string; claimMs?: number })
        .filter((line) => line.msg === 'batch committed' && line.step === job.step && line.claimMs !== undefined)
        .map((line) => line.claimMs!);
      return {
        job: job.name,
        rows,
        processed: JSON.parse(run.stdout).processed,
        seconds: run.seconds,
        claimMs,
        date: new Date().toISOString(),
      };
    } finally {
      await holder.rollback();
    }
  } finally {
    await source.knex.destroy();
    await dropDatabase(server, source.name);
  }
}

/** The snapshot series: the first batches' claim time against the last ones'. */
function snapshotTable(points: SnapshotPoint[]): string {
  const header = [
    'job',
    'rows',
    'processed',
    'batches',
    'seconds',
    'first claim ms',
    'first 10: median ms',
    'last 10: median ms',
    'last / first 10',
    'slowest ms',
  ];
  const lines = [row(header), row(['---', ...header.slice(1).map(() => '---:')])];
  for (const p of [...points].sort((a, b) => a.job.localeCompare(b.job) || a.rows - b.rows)) {
    const [first, last] = [median(p.claimMs.slice(0, 10)), median(p.claimMs.slice(-10))];
    lines.push(
      row([
        p.job,
        fmt(p.rows),
        fmt(p.processed),
        fmt(p.claimMs.length),
        fmt(p.seconds, 1),
        fmt(p.claimMs[0], 1),
        fmt(first, 1),
        fmt(last, 1),
        fmt(last / first, 2),
        fmt(Math.max(...p.claimMs), 1),
      ]),
    );
  }
  return lines.join('\n');
}

const fmt = (n: number, digits = 0) => n.toLocaleString('en', { maximumFractionDigits: digits, minimumFractionDigits: digits });
const fmtOptional = (n: number | undefined, digits: number) => (n === undefined ? '-' : fmt(n, digits));
const row = (cells: string[]) => `| ${cells.join(' | ')} |`;

/** One series' table: per job and size, with time and table size against the job's smallest size. */
function seriesTable(points: Point[], mode: Mode): string {
  const series = points.filter((p) => p.mode === mode).sort((a, b) => a.job.localeCompare(b.job) || a.rows - b.rows);
  const header = [
    'job',
    'rows in table',
    'eligible',
    'processed',
    'seconds',
    'items/s',
    'µs per item',
    '× rows',
    '× time',
    'CLI CPU s',
    'peak RSS MB',
    'table + indexes MB',
    'seed s',
    'runs s',
  ];
  const lines = [row(header), row(['---', ...header.slice(1, -1).map(() => '---:'), '---'])];
  for (const p of series) {
    const smallest = series.find((q) => q.job === p.job)!;
    lines.push(
      row([
        p.job,
        fmt(p.rows),
        fmt(p.eligible),
        fmt(p.processed),
        fmt(p.seconds, 2),
        fmt(p.processed / p.seconds),
        fmt((p.seconds * 1e6) / Math.max(p.processed, 1)),
        fmt(p.rows / smallest.rows, 1),
        fmt(p.seconds / smallest.seconds, 2),
        fmtOptional(p.cpuSeconds, 2),
        fmt(p.peakRssMb),
        fmt(p.tableMb),
        `${fmt(p.seedSeconds)}${p.indexesBuiltAfterLoad ? '' : ' †'}`,
        p.runSeconds.map((seconds) => fmt(seconds, 1)).join(' / '),
      ]),
    );
  }
  return lines.join('\n');
}

function report(results: Results): string {
  const jobs = [...new Set(results.points.map((p) => p.job))];
  const dates = results.points.map((p) => p.date.slice(0, 10)).sort();
  return [
    `Machine: ${results.machine}. Measured ${dates[0]}${dates.at(-1) !== dates[0] ? ` to ${dates.at(-1)}` : ''} with \`npm run bench:scale\`.`,
    '',
    `**Work grows with the table** (the job's benchmark seed at N rows): time should grow with N, items/s stay flat.`,
    '',
    seriesTable(results.points, 'grow'),
    '',
    `**Fixed work in a growing table** (the seed at ${fmt(BASE)} rows, plus rows the job must leave alone): time should stay flat.`,
    '',
    seriesTable(results.points, 'fixed'),
    '',
    'Seeds: ' +
      JOBS.filter((job) => jobs.includes(job.name))
        .map((job) => job.describe)
        .join('. ') +
      '.',
    '',
    `Each run is the CLI in a child process (\`--max-runtime 36000\`, so one run does all the work; process start included), on a fresh database: migrated, seeded with \`INSERT … SELECT generate_series\` (secondary indexes built after the load, as a restore does), \`VACUUM ANALYZE\`; with several runs per point, each runs on a template copy of it and the median is kept (runs s: every run). × rows and × time: against the job's smallest size in the series. CLI CPU s: user + system time of the CLI process (most of the rest of the wall time is spent in PostgreSQL; the server's own CPU is in scale.json as serverCpuSeconds, but a seeding backend or autovacuum worker ending during a run lands in it, so it is not shown). † seeded with every index kept up to date during the load (measured before the loader built them after it): same indexes, less compact. table + indexes MB: \`pg_total_relation_size\` of the job's table (tasks, reminders or users) before the run.`,
    '',
  ].join('\n');
}

/** The snapshot-held series, with what it measured. */
function snapshotReport(results: Results): string {
  const dates = (results.snapshot ?? []).map((p) => p.date.slice(0, 10)).sort();
  return [
    `Machine: ${results.machine}. Measured ${dates[0]} with \`npm run bench:scale -- --snapshot\`: the grow seed, then the CLI while a second connection in REPEATABLE READ that read a row stays open; the claim time of each batch of the job's main step, from the run's debug lines (\`claimMs\`). Flat claims keep the last batches' claim time near the first ones'.`,
    '',
    snapshotTable(results.snapshot ?? []),
    '',
  ].join('\n');
}

/** Replaces the block between a pair of markers in docs/scaling.md, so the figures there are never typed by hand. */
async function updateDoc(markdown: string, mark: string): Promise<boolean> {
  const [startMark, endMark] = [`<!-- ${mark}:start -->`, `<!-- ${mark}:end -->`];
  const doc = await fs.readFile(DOC, 'utf8').catch(() => undefined);
  const start = doc?.indexOf(startMark) ?? -1;
  const end = doc?.indexOf(endMark) ?? -1;
  if (!doc || start < 0 || end < start) return false;
  const updated = `${doc.slice(0, start + startMark.length)}\n${markdown}${doc.slice(end)}`;
  // Formatted as `npx prettier --write` would, so the generated tables stay aligned like the rest of the docs.
  await fs.writeFile(DOC, await prettier.format(updated, { ...(await prettier.resolveConfig(DOC)), filepath: DOC }));
  return true;
}

/** Writes bench/results/scale[-snapshot].md and its block in docs/scaling.md. */
async function publish(results: Results, series: keyof typeof MARKS): Promise<void> {
  const markdown = series === 'snapshot' ? snapshotReport(results) : report(results);
  await fs.writeFile(path.join(RESULTS, `${MARKS[series]}.md`), markdown);
  process.stdout.write(`\n${markdown}`);
  if (await updateDoc(markdown, MARKS[series])) process.stdout.write(`\n${DOC} updated between its ${MARKS[series]} markers\n`);
}

const list =
  <T extends string | number>(parse: (item: string) => T) =>
  (value: string) =>
    value.split(',').map((item) => parse(item.trim()));

const positive = (item: string) => {
  const n = Number(item.replace(/_/g, ''));
  if (!Number.isInteger(n) || n < BASE) throw new InvalidArgumentError(`sizes are whole numbers of at least ${fmt(BASE)}`);
  return n;
};

const program = new Command('bench:scale')
  .option('--sizes <list>', 'rows in the table, comma-separated', list(positive), [100_000, 1_000_000, 10_000_000])
  .option(
    '--jobs <list>',
    `comma-separated, of ${JOBS.map((job) => job.name).join(', ')}`,
    list((name) => {
      if (!JOBS.some((job) => job.name === name)) throw new InvalidArgumentError(`unknown job "${name}"`);
      return name;
    }),
    JOBS.map((job) => job.name),
  )
  .option(
    '--modes <list>',
    'grow (work grows with the table), fixed (fixed work in a growing table)',
    list((mode) => {
      if (mode !== 'grow' && mode !== 'fixed') throw new InvalidArgumentError(`unknown mode "${mode}"`);
      return mode as Mode;
    }),
    ['grow', 'fixed'] as Mode[],
  )
  .option(
    '--repeat <n>',
    'runs per point, each on a copy of the seeded database; the median is kept',
    (value) => {
      const n = Number(value);
      if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('--repeat takes a positive whole number');
      return n;
    },
    1,
  )
  .option('--report', 'measure nothing: rewrite bench/results/scale.md and docs/scaling.md from scale.json')
  .option('--snapshot', 'measure the snapshot-held series instead: per-batch claim times while another session holds a snapshot')
  .action(
    async (options: { sizes: number[]; jobs: string[]; modes: Mode[]; repeat: number; report?: boolean; snapshot?: boolean }) => {
      // Points accumulate across invocations (one size at a time on a small machine); a rerun replaces its own.
      const file = path.join(RESULTS, 'scale.json');
      const previous: Results | undefined = await fs
        .readFile(file, 'utf8')
        .then((text) => JSON.parse(text) as Results)
        .catch(() => undefined);
      if (options.report) {
        if (!previous) throw new Error(`${file} is missing: run the benchmark first`);
        return publish(previous, options.snapshot ? 'snapshot' : 'series');
      }
      const server = await BenchServer.start();
      for (const signal of ['SIGINT', 'SIGTERM'] as const) {
        process.once(signal, () => {
          void server.stop().finally(() => process.exit(130));
        });
      }
      const machine = `${os.cpus().length} × ${os.cpus()[0]?.model ?? 'cpu'}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}, ${await server.version()}`;
      const same = previous?.machine === machine;
      const results: Results = { machine, points: same ? previous.points : [], snapshot: same ? previous.snapshot : [] };
      await fs.mkdir(RESULTS, { recursive: true });
      try {
        for (const job of JOBS.filter((j) => options.snapshot && options.jobs.includes(j.name))) {
          for (const rows of options.sizes) {
            const point = await measureWithSnapshot(server, job, rows);
            process.stdout.write(`${JSON.stringify({ ...point, claimMs: undefined, batches: point.claimMs.length })}\n`);
            results.snapshot = [...(results.snapshot ?? []).filter((p) => p.job !== job.name || p.rows !== rows), point];
            await fs.writeFile(file, `${JSON.stringify(results, null, 2)}\n`);
          }
        }
        for (const job of JOBS.filter((j) => !options.snapshot && options.jobs.includes(j.name))) {
          for (const rows of options.sizes) {
            // At BASE rows both series are the same run.
            for (const mode of rows === BASE ? (['grow'] as Mode[]) : options.modes) {
              const point = await measure(server, job, mode, rows, options.repeat);
              process.stdout.write(`${JSON.stringify(point)}\n`);
              // The point at BASE rows belongs to both series.
              const fresh: Point[] = rows === BASE ? [point, { ...point, mode: 'fixed' }] : [point];
              const replaced = (p: Point) => fresh.some((q) => q.job === p.job && q.mode === p.mode && q.rows === p.rows);
              results.points = [...results.points.filter((p) => !replaced(p)), ...fresh];
              await fs.writeFile(file, `${JSON.stringify(results, null, 2)}\n`);
            }
          }
        }
      } finally {
        await server.stop();
      }
      await publish(results, options.snapshot ? 'snapshot' : 'series');
    },
  );

await program.parseAsync();
