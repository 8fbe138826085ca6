/** A benchmark's rows as markdown: items/s, time per item against the floor and the naive way, resources; medians over repeats. */
import type { Measurement } from './benchmark.js';

/** A table row: the measurement and its ratios to its own floor and to its benchmark's naive row (time per item). */
export interface Row extends Measurement {
  /** Undefined for a variant that did not run (skipped: no items, no time). */
  itemsPerSecond?: number;
  timesFloor?: number;
  timesNaive?: number;
}

const perItem = (row: Measurement) => row.seconds / row.items;

/** Each row's ratios within one run: to its own floor (`floorVariant`, else the first floor row) and to the naive row. */
export function withRatios(rows: Measurement[]): Row[] {
  const firstFloor = rows.find((row) => row.variant.startsWith('floor'));
  const naive = rows.find((row) => row.variant.startsWith('naive'));
  return rows.map((row) => {
    if (row.items === 0 || row.seconds === 0) return row;
    const floor = row.floorVariant === undefined ? firstFloor : rows.find((other) => other.variant === row.floorVariant);
    return {
      ...row,
      itemsPerSecond: row.items / row.seconds,
      timesFloor: floor && perItem(row) / perItem(floor),
      timesNaive: naive && perItem(row) / perItem(naive),
    };
  });
}

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
};

/**
 * Over repeated runs of one benchmark: per variant, the run with the median time (its other figures
 * come with it), and as ratios the median of each run's own ratio (a floor and a job measured in
 * the same run share that run's machine load), noting how many runs there were.
 */
export function medianOf(runs: Measurement[][]): Row[] {
  const rated = runs.map(withRatios);
  if (rated.length === 1) return rated[0];
  return rated[0].map((first, index) => {
    const rows = rated.map((run) => run[index]);
    const base = [...rows].sort((a, b) => a.seconds - b.seconds)[Math.floor(rows.length / 2)];
    const ratio = (field: 'timesFloor' | 'timesNaive') => {
      const values = rows.map((row) => row[field]).filter((value): value is number => value !== undefined);
      return values.length === rows.length ? median(values) : undefined;
    };
    const spread = `median of ${rows.length}: ${rows.map((row) => row.seconds.toFixed(1)).join(' / ')} s`;
    const figures =
      first.figures &&
      Object.fromEntries(Object.keys(first.figures).map((key) => [key, median(rows.map((row) => row.figures![key]))]));
    return {
      ...base,
      figures,
      timesFloor: ratio('timesFloor'),
      timesNaive: ratio('timesNaive'),
      note: [first.note, spread].filter(Boolean).join('; '),
    };
  });
}

const fmt = (n: number, digits = 2) => n.toLocaleString('en', { maximumFractionDigits: digits, minimumFractionDigits: digits });
/** Ratios far from 1 with two significant digits (0.045, 22), near it with two decimals. */
const fmtRatio = (ratio?: number) =>
  ratio === undefined ? '-' : ratio >= 10 || ratio < 0.1 ? String(Number(ratio.toPrecision(2))) : fmt(ratio);
const fmtOptional = (n: number | undefined, digits: number) => (n === undefined ? '-' : fmt(n, digits));

const HEADER = [
  'variant',
  'threads',
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
const ALIGN = ['---', '---:', '---:', '---:', '---:', '---:', '---:', '---:', '---:', '---:', '---:', '---'];

/** Markdown table cells cannot hold a bare `|` or a line break. */
const cellText = (text: string) => text.replace(/\|/g, '\\|').replace(/\n/g, ' ');

const cells = (row: Row) => [
  cellText(row.variant),
  String(row.threads),
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
  cellText(
    [...Object.entries(row.figures ?? {}).map(([name, value]) => `${name} ${fmtRatio(value)}`), row.note]
      .filter(Boolean)
      .join('; '),
  ),
];
const markdownRow = (values: string[]) => `| ${values.join(' | ')} |`;

/** What the columns mean, under every table file. */
export const LEGEND =
  "threads: threads doing the measured side's work, over all its processes (the database server not counted). " +
  "× floor: time per item as a multiple of the row's own floor's (the first floor row of its job unless the row names another); " +
  "× naive: of the naive way's (below 1: faster); with --repeat, the median of each run's own ratio. CPU s: user + system time of " +
  'the measured process (the CLI or worker child processes; this benchmark process for in-process variants). DB server CPU s: the ' +
  'PostgreSQL server (and Redis, for BullMQ) over the same span, when it runs on this machine. DB connections: peak pg_stat_activity ' +
  'rows for the benchmark databases, sampled every 50 ms (Redis: peak connected clients above the idle count). A note may begin ' +
  "with figures a target is set for (with --repeat, the median of each run's).";

/** One benchmark's rows (with their ratios, from `withRatios` or `medianOf`) as a markdown table. */
export const rowsTable = (rows: Row[]): string =>
  [markdownRow(HEADER), markdownRow(ALIGN), ...rows.map((row) => markdownRow(cells(row)))].join('\n');

/** Prints one benchmark's table under its title and returns it. */
export function printTable(title: string, rows: Row[]): string {
  const text = [`### ${title}`, '', rowsTable(rows), ''].join('\n');
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
