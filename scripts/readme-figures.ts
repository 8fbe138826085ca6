/**
 * `npm run readme:figures`: rewrites the README's generated figures from the scripts' results, so
 * no figure is typed by hand. Between `<!-- performance:start -->` and `<!-- performance:end -->`:
 * the `npm run bench -- all` table (bench/results/all.json) and one sentence per row saying what it
 * compared on how many threads; between `<!-- performance-notifications:start -->` and its end: the
 * medians of `npm run bench -- notifications --repeat N` (bench/results/notifications.json); between
 * `<!-- guarantees-figures:start -->` and `<!-- guarantees-figures:end -->`: the `npm run chaos`
 * figures per job (chaos/results/latest.json); between `<!-- latency:start -->` and `<!-- latency:end -->`:
 * `npm run bench -- latency` (bench/results/latency.json; alone with `npm run readme:figures -- latency`).
 * A block whose results are missing is left as it is.
 * Exits 1, changing nothing, when a marker is missing or there are no benchmark results at all.
 */
import fs from 'node:fs/promises';
import type { LatencyRow } from '../bench/latency.js';
import { combinedTable, rowsTable, type JobRows } from '../bench/support/table.js';

const README = 'README.md';
const BENCH_RESULTS = 'bench/results/all.json';
const NOTIFICATIONS_RESULTS = 'bench/results/notifications.json';
const CHAOS_RESULTS = 'chaos/results/latest.json';
const LATENCY_RESULTS = 'bench/results/latency.json';

interface BenchResults {
  machine: string;
  date: string;
  command: string;
  jobs: JobRows[];
}

/** The fields of a chaos row this script reads (chaos/report.ts writes more). */
interface ChaosRow {
  job: string;
  scenario: string;
  expected?: number;
  done?: number;
  duplicates?: number;
  lost?: number;
  recoverySeconds: number | null;
  verdict: 'ok' | 'FAIL' | 'skipped';
}

interface ChaosResults {
  machine: string;
  finishedAt: string;
  quick: boolean;
  server: string;
  rows: ChaosRow[];
}

class MissingInput extends Error {}

async function readJson<T>(file: string): Promise<T | undefined> {
  try {
    return JSON.parse(await fs.readFile(file, 'utf8')) as T;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

const day = (iso: string) => iso.slice(0, 10);

/** The benchmark table and what each row compared. */
function performance(bench: BenchResults): string {
  return [
    `Measured with \`${bench.command}\` on ${bench.machine}, ${day(bench.date)}. Compare ratios within one run. ` +
      'The CLI rows include process start-up; the pg-boss and BullMQ rows send the same Web Push messages as the `notifications` ' +
      'CLI row, to the same local push service with the same sends in flight; their enqueueing is not counted (it is in their notes).',
    '',
    combinedTable(bench.jobs),
    'What each row compared:',
    '',
    ...bench.jobs.flatMap(({ job, rows }) => rows.map((row) => `- ${job}, ${row.variant}: ${row.compared}`)),
  ].join('\n');
}

/** The repeated notifications run's medians, and what each of its rows compared. */
function repeatedNotifications(repeated: BenchResults): string {
  return [
    `The notification sender again with \`${repeated.command}\` on ${repeated.machine}, ${day(repeated.date)}: per variant the run with the median ` +
      "time, and the median of each run's own ratios and figures.",
    '',
    ...repeated.jobs.flatMap(({ rows }) => [rowsTable(rows), '', ...rows.map((row) => `- ${row.variant}: ${row.compared}`)]),
  ].join('\n');
}

const sum = (rows: ChaosRow[], field: 'expected' | 'duplicates' | 'lost') =>
  rows.reduce((total, row) => total + (row[field] ?? 0), 0);

/** Per job: the scenarios it went through and what they add up to (the full table is chaos/results/latest.md). */
function guarantees(chaos: ChaosResults): string {
  const jobs = [...new Set(chaos.rows.map((row) => row.job))];
  const lines = jobs.map((job) => {
    const all = chaos.rows.filter((row) => row.job === job);
    const rows = all.filter((row) => row.verdict !== 'skipped');
    const skipped = all.length - rows.length;
    const recoveries = rows.map((row) => row.recoverySeconds).filter((seconds): seconds is number => seconds !== null);
    const passed = rows.filter((row) => row.verdict === 'ok').length;
    return `| ${job} | ${rows.length} | ${sum(rows, 'expected').toLocaleString('en')} | ${sum(rows, 'duplicates')} | ${sum(rows, 'lost')} | ${
      recoveries.length ? Math.max(...recoveries).toFixed(1) : '–'
    } | ${passed} of ${rows.length}${skipped ? ` (${skipped} skipped)` : ''} |`;
  });
  return [
    `\`npm run chaos${chaos.quick ? ' -- --quick' : ''}\` on ${chaos.machine}, ${chaos.server}, ${day(chaos.finishedAt)}:`,
    '',
    '| job | scenarios | items expected | duplicates | lost | slowest recovery s | scenarios ok |',
    '|---|---:|---:|---:|---:|---:|---|',
    ...lines,
  ].join('\n');
}

/**
 * Between `<!-- latency:start -->` and `<!-- latency:end -->`: lateness per scenario, following
 * next to plain one-run-per-minute, from bench/results/latency.json; `readme` unchanged (said on
 * stderr) when there are no latency results.
 */
async function latencyFigures(readme: string): Promise<string> {
  const latency = await readJson<BenchResults>(LATENCY_RESULTS);
  if (!latency) {
    process.stderr.write(
      `${LATENCY_RESULTS} is missing: the latency figures are left as they are (run \`npm run bench -- latency\`)\n`,
    );
    return readme;
  }
  const rows = latency.jobs.flatMap((job) => job.rows as unknown as LatencyRow[]);
  const seconds = (n: number) => (Number.isFinite(n) ? n.toFixed(2) : '–');
  const table = rows.map(
    (row) =>
      `| ${row.scenario} | ${row.mode} | ${row.reminders.toLocaleString('en')} | ${row.delivered.toLocaleString('en')} | ${row.expired} | ${seconds(row.p50)} | ${seconds(row.p99)} | ${seconds(row.max)} | ${
        row.duplicates === 0 && row.missing === 0 ? 'yes' : `no: ${row.duplicates} duplicates, ${row.missing} missing`
      } |`,
  );
  const scenarios = [...new Map(rows.map((row) => [row.scenario, row.compared.split(';')[0]])).entries()];
  return between(
    readme,
    'latency',
    [
      `\`${latency.command}\` on ${latency.machine}, ${day(latency.date)}: lateness is the arrival at the local push service minus \`remind_at\` (for a reminder that fell due while nothing ran: minus the first run's start), in seconds, over each delivered reminder.`,
      '',
      '| scenario | schedule | reminders | delivered | expired | p50 s | p99 s | max s | exactly once |',
      '|---|---|---:|---:|---:|---:|---:|---:|---|',
      ...table,
      '',
      ...scenarios.map(([scenario, what]) => `- ${scenario}: ${what}.`),
    ].join('\n'),
  );
}

/** `text` with what lies between the `name` markers replaced by `content`. */
function between(text: string, name: string, content: string): string {
  const start = `<!-- ${name}:start -->`;
  const end = `<!-- ${name}:end -->`;
  const from = text.indexOf(start);
  const to = text.indexOf(end);
  if (from === -1 || to < from) throw new MissingInput(`${README} has no ${start} … ${end} markers`);
  return `${text.slice(0, from + start.length)}\n${content}\n${text.slice(to)}`;
}

async function main(): Promise<void> {
  // `npm run readme:figures -- latency`: that block alone (the latency benchmark is run by name, not by `all`).
  if (process.argv[2] === 'latency') {
    await fs.writeFile(README, await latencyFigures(await fs.readFile(README, 'utf8')));
    process.stdout.write(`${README}: latency figures rewritten\n`);
    return;
  }
  const bench = await readJson<BenchResults>(BENCH_RESULTS);
  const notifications = await readJson<BenchResults>(NOTIFICATIONS_RESULTS);
  const repeated = notifications && /--repeat \d+/.test(notifications.command) ? notifications : undefined;
  if (!bench && !repeated)
    throw new MissingInput(
      `${BENCH_RESULTS} is missing: run \`npm run bench -- all\` (or \`-- notifications --repeat 3\`) first`,
    );
  const chaos = await readJson<ChaosResults>(CHAOS_RESULTS);
  let readme = await fs.readFile(README, 'utf8');
  const written: string[] = [];
  if (bench) readme = between(readme, 'performance', performance(bench));
  else process.stderr.write(`${BENCH_RESULTS} is missing: the combined table is left as it is (run \`npm run bench -- all\`)\n`);
  if (repeated) readme = between(readme, 'performance-notifications', repeatedNotifications(repeated));
  readme = await latencyFigures(readme);
  if (chaos) readme = between(readme, 'guarantees-figures', guarantees(chaos));
  else process.stderr.write(`${CHAOS_RESULTS} is missing: the guarantees figures are left as they are (run \`npm run chaos\`)\n`);
  written.push(
    ...(bench ? ['performance'] : []),
    ...(repeated ? ['repeated notifications'] : []),
    ...(chaos ? ['guarantees'] : []),
  );
  await fs.writeFile(README, readme);
  process.stdout.write(`${README}: ${written.join(', ')} figures rewritten\n`);
}

await main().catch((err: unknown) => {
  process.stderr.write(`readme:figures: ${err instanceof MissingInput ? err.message : (err as Error).stack}\n`);
  process.exitCode = 1;
});
