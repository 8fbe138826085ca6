import fs from 'node:fs/promises';
import path from 'node:path';
import lockfile from 'proper-lockfile';
import type { JobName } from './catalog.js';
import { describeError } from './errors.js';
import { HEARTBEAT_TIMEOUT_MS } from './heartbeat.js';
import { warnOutsideFault, type Logger } from './logger.js';
import { makeDirectories } from './directories.js';

/** The state of a job's queue table when its run ended (read by src/core/queueState.ts). */
export interface QueueState {
  /** Rows per status: `pending` and `processing` (the statuses the queue's partial indexes cover). */
  items: Record<string, number>;
  /** Seconds the oldest due `pending` row has waited since it became due; 0 when none is due. */
  oldestDueAgeSeconds: number;
}

/** What one run ended with, as monitoring sees it. */
export interface RunOutcome {
  exitCode: number;
  /** Finished with status `succeeded` (not skipped, not failed). */
  succeeded: boolean;
  finishedAt: Date;
  durationSeconds: number;
  processed: number;
  failed: number;
  /** The run's tally counters (`push_delivered`, `exported`, `bytes`, ...): item counts, and bytes for `bytes`. */
  counts: Record<string, number>;
}

/**
 * Everything one invocation reports about its job. A disabled job's invocation reports only
 * `enabled: false` (and its period), so alerts can leave it alone; a dry run reports nothing.
 */
export interface MetricsReport {
  job: JobName;
  enabled: boolean;
  /** The longest gap between two fires of the job's configured schedule; absent when it does not parse. */
  periodSeconds?: number;
  run?: RunOutcome;
  queue?: QueueState;
}

/**
 * Every family this tool writes, all gauges, each series labelled `planner_job` (plus the
 * labels named here), in the order they are written. docs/operations.md ("Metrics") lists them
 * with units; k8s/monitoring's rules and dashboard may use only these names (test/monitoring-*.test.ts).
 */
export const FAMILIES = {
  planner_jobs_last_run_timestamp_seconds: { help: 'Unix time the last run of the job ended.', labels: [] },
  planner_jobs_last_success_timestamp_seconds: { help: 'Unix time the last successful run of the job ended.', labels: [] },
  planner_jobs_last_run_duration_seconds: { help: 'Wall time of the last run of the job.', labels: [] },
  planner_jobs_last_run_processed: { help: 'Items the last run of the job processed.', labels: [] },
  planner_jobs_last_run_failed: { help: 'Items the last run of the job failed on.', labels: [] },
  planner_jobs_last_run_exit_code: {
    help: 'Exit code of the last run of the job (0 ok, 1 failed items, 75 unavailable, 78 config).',
    labels: [],
  },
  planner_jobs_last_run_items: {
    help: 'Items the last run of the job counted, per tally counter (e.g. push_delivered).',
    labels: ['counter'],
  },
  planner_jobs_last_run_bytes: { help: 'Bytes the last run of the job wrote (exports).', labels: [] },
  planner_jobs_enabled: { help: 'Whether the job is turned on (JOB_<NAME>_ENABLED): 1 on, 0 off.', labels: [] },
  planner_jobs_schedule_period_seconds: {
    help: "Longest gap between two fires of the job's schedule (JOB_<NAME>_SCHEDULE).",
    labels: [],
  },
  planner_jobs_queue_items: { help: "Rows in the job's queue when its last run ended, per status.", labels: ['status'] },
  planner_jobs_queue_oldest_due_age_seconds: {
    help: "Seconds the oldest due pending row of the job's queue had waited when its last run ended.",
    labels: [],
  },
} as const satisfies Record<string, { help: string; labels: readonly string[] }>;
export type Family = keyof typeof FAMILIES;
export const FAMILY_NAMES = Object.keys(FAMILIES) as Family[];

type Labels = Record<string, string>;
interface Series {
  labels: Labels;
  value: number;
}
/** Family → series key (its rendered labels) → series. */
type Samples = Map<Family, Map<string, Series>>;

const LABEL = 'planner_job';
const SAMPLE_LINE = /^([a-z_]+)\{(.*)\} (\S+)$/;
const LABEL_PAIR = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

/** Label values escaped as the text format requires: backslash, double quote, line feed. */
const escapeLabel = (value: string) => value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
const unescapeLabel = (value: string) => value.replace(/\\(["\\n])/g, (_, c: string) => (c === 'n' ? '\n' : c));
const renderLabels = (labels: Labels) =>
  Object.entries(labels)
    .map(([name, value]) => `${name}="${escapeLabel(value)}"`)
    .join(',');

/** The series of this report; a run that did not succeed leaves the last success time out (so it keeps its value). */
function samplesOf(report: MetricsReport): Samples {
  const samples: Samples = new Map();
  const add = (family: Family, value: number, extra: Labels = {}) => {
    const labels = { [LABEL]: report.job, ...extra };
    if (!samples.has(family)) samples.set(family, new Map());
    samples.get(family)!.set(renderLabels(labels), { labels, value });
  };
  add('planner_jobs_enabled', report.enabled ? 1 : 0);
  if (report.periodSeconds !== undefined) add('planner_jobs_schedule_period_seconds', report.periodSeconds);
  const { run, queue } = report;
  if (run) {
    // Sent even when empty, so a counter this run did not count is dropped from the file.
    samples.set('planner_jobs_last_run_items', new Map());
    const seconds = run.finishedAt.getTime() / 1000;
    add('planner_jobs_last_run_timestamp_seconds', seconds);
    if (run.succeeded) add('planner_jobs_last_success_timestamp_seconds', seconds);
    add('planner_jobs_last_run_duration_seconds', run.durationSeconds);
    add('planner_jobs_last_run_processed', run.processed);
    add('planner_jobs_last_run_failed', run.failed);
    add('planner_jobs_last_run_exit_code', run.exitCode);
    for (const [counter, value] of Object.entries(run.counts)) {
      if (counter === 'bytes') add('planner_jobs_last_run_bytes', value);
      else add('planner_jobs_last_run_items', value, { counter });
    }
  }
  if (queue) {
    for (const [status, value] of Object.entries(queue.items)) add('planner_jobs_queue_items', value, { status });
    add('planner_jobs_queue_oldest_due_age_seconds', queue.oldestDueAgeSeconds);
  }
  return samples;
}

/** Prometheus text format (version 0.0.4): HELP, TYPE, then the family's samples, sorted. */
function renderMetrics(samples: Samples): string {
  const lines: string[] = [];
  for (const family of FAMILY_NAMES) {
    const series = samples.get(family);
    if (!series || series.size === 0) continue;
    lines.push(`# HELP ${family} ${FAMILIES[family].help}`, `# TYPE ${family} gauge`);
    for (const key of [...series.keys()].sort()) lines.push(`${family}{${key}} ${series.get(key)!.value}`);
  }
  return `${lines.join('\n')}\n`;
}

/** Reads back a file this module wrote; anything else in it is dropped. */
function parseOwnMetrics(text: string): Samples {
  const samples: Samples = new Map();
  for (const line of text.split('\n')) {
    const match = SAMPLE_LINE.exec(line);
    if (!match || !(match[1] in FAMILIES) || !Number.isFinite(Number(match[3]))) continue;
    const family = match[1] as Family;
    const labels = Object.fromEntries([...match[2].matchAll(LABEL_PAIR)].map(([, name, value]) => [name, unescapeLabel(value)]));
    if (!labels[LABEL]) continue;
    if (!samples.has(family)) samples.set(family, new Map());
    samples.get(family)!.set(renderLabels(labels), { labels, value: Number(match[3]) });
  }
  return samples;
}

/**
 * Pushgateway semantics (a POST replaces the families it sends, per group): each family this
 * report sends replaces every series of the job in it; the families it does not send are kept.
 */
function merge(into: Samples, from: Samples, job: JobName): Samples {
  for (const [family, series] of from) {
    const kept = [...(into.get(family) ?? new Map<string, Series>())].filter(([, s]) => s.labels[LABEL] !== job);
    into.set(family, new Map([...kept, ...series]));
  }
  return into;
}

/**
 * Updates this job's series in METRICS_FILE and keeps every other job's, for node_exporter's
 * textfile collector. Runs of different jobs share the file: a lock file serialises the
 * read-modify-write, and the new content is renamed into place so the collector never reads half.
 */
export async function writeMetricsFile(file: string, report: MetricsReport): Promise<void> {
  await makeDirectories(path.dirname(file));
  const release = await lockfile.lock(file, {
    realpath: false,
    stale: 10_000,
    retries: { retries: 50, minTimeout: 10, maxTimeout: 100 },
  });
  try {
    const previous = await fs.readFile(file, 'utf8').catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return '';
      throw err;
    });
    const temp = `${file}.${process.pid}.tmp`;
    await fs.writeFile(temp, renderMetrics(merge(parseOwnMetrics(previous), samplesOf(report), report.job)), { mode: 0o644 });
    await fs.rename(temp, file);
  } finally {
    await release();
  }
}

/**
 * POSTs this run's samples to the Pushgateway under job="planner-jobs", planner_job=<job>.
 * POST (not PUT) replaces only the families sent, so a failed run keeps the last success time.
 */
export async function pushMetrics(gatewayUrl: string, report: MetricsReport): Promise<void> {
  const url = `${gatewayUrl.replace(/\/+$/, '')}/metrics/job/planner-jobs/${LABEL}/${encodeURIComponent(report.job)}`;
  const response = await fetch(url, {
    method: 'POST',
    body: renderMetrics(samplesOf(report)),
    headers: { 'content-type': 'text/plain; version=0.0.4' },
    signal: AbortSignal.timeout(HEARTBEAT_TIMEOUT_MS),
  });
  await response.body?.cancel();
  if (!response.ok) throw new Error(`the Pushgateway answered ${response.status}`);
}

/** Both outputs, as configured; a failure is logged and never changes the run's exit code. */
export async function publishMetrics(
  targets: { metricsFile?: string; pushgatewayUrl?: string },
  report: MetricsReport,
  log: Logger,
): Promise<void> {
  if (targets.metricsFile) {
    await writeMetricsFile(targets.metricsFile, report).catch((err) =>
      warnOutsideFault(log, err, { file: targets.metricsFile }, `could not write METRICS_FILE: ${describeError(err)}`),
    );
  }
  if (targets.pushgatewayUrl) {
    await pushMetrics(targets.pushgatewayUrl, report).catch((err) =>
      warnOutsideFault(log, err, {}, `could not push metrics to PUSHGATEWAY_URL: ${describeError(err.cause ?? err)}`),
    );
  }
}
