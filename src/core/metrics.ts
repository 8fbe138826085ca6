import fs from 'node:fs/promises';
import path from 'node:path';
import lockfile from 'proper-lockfile';
import type { JobName } from './catalog.js';
import { describeError } from './errors.js';
import { HEARTBEAT_TIMEOUT_MS } from './heartbeat.js';
import type { Logger } from './logger.js';

/** What one run ended with, as monitoring sees it. */
export interface RunOutcome {
  job: JobName;
  exitCode: number;
  /** Finished with status `succeeded` (not skipped, not failed). */
  succeeded: boolean;
  finishedAt: Date;
  durationSeconds: number;
  processed: number;
  failed: number;
}

/** Every series, one gauge per job (label `planner_job`), in the order they are written. */
const FAMILIES = [
  ['planner_jobs_last_run_timestamp_seconds', 'Unix time the last run of the job ended.'],
  ['planner_jobs_last_success_timestamp_seconds', 'Unix time the last successful run of the job ended.'],
  ['planner_jobs_last_run_duration_seconds', 'Wall time of the last run of the job.'],
  ['planner_jobs_last_run_processed', 'Items the last run of the job processed.'],
  ['planner_jobs_last_run_failed', 'Items the last run of the job failed on.'],
  ['planner_jobs_last_run_exit_code', 'Exit code of the last run of the job (0 ok, 1 failed items, 75 unavailable, 78 config).'],
] as const;
type Family = (typeof FAMILIES)[number][0];
/** Family → job → value. */
type Samples = Map<Family, Map<string, number>>;

const LABEL = 'planner_job';
const SAMPLE_LINE = /^([a-z_]+)\{planner_job="([^"\\]*)"\} (\S+)$/;

/** This run's samples; a run that did not succeed leaves the last success time as it was. */
function samplesOf(outcome: RunOutcome): Samples {
  const seconds = outcome.finishedAt.getTime() / 1000;
  const values: [Family, number][] = [
    ['planner_jobs_last_run_timestamp_seconds', seconds],
    ['planner_jobs_last_run_duration_seconds', outcome.durationSeconds],
    ['planner_jobs_last_run_processed', outcome.processed],
    ['planner_jobs_last_run_failed', outcome.failed],
    ['planner_jobs_last_run_exit_code', outcome.exitCode],
  ];
  if (outcome.succeeded) values.push(['planner_jobs_last_success_timestamp_seconds', seconds]);
  return new Map(values.map(([family, value]) => [family, new Map([[outcome.job, value]])]));
}

/** Prometheus text format (version 0.0.4): HELP, TYPE, then the family's samples, jobs sorted. */
function renderMetrics(samples: Samples): string {
  const lines: string[] = [];
  for (const [family, help] of FAMILIES) {
    const byJob = samples.get(family);
    if (!byJob || byJob.size === 0) continue;
    lines.push(`# HELP ${family} ${help}`, `# TYPE ${family} gauge`);
    for (const job of [...byJob.keys()].sort()) lines.push(`${family}{${LABEL}="${job}"} ${byJob.get(job)}`);
  }
  return `${lines.join('\n')}\n`;
}

/** Reads back a file this module wrote; anything else in it is dropped. */
function parseOwnMetrics(text: string): Samples {
  const samples: Samples = new Map();
  const known = new Set<string>(FAMILIES.map(([family]) => family));
  for (const line of text.split('\n')) {
    const match = SAMPLE_LINE.exec(line);
    if (!match || !known.has(match[1]) || !Number.isFinite(Number(match[3]))) continue;
    const family = match[1] as Family;
    if (!samples.has(family)) samples.set(family, new Map());
    samples.get(family)!.set(match[2], Number(match[3]));
  }
  return samples;
}

function merge(into: Samples, from: Samples): Samples {
  for (const [family, byJob] of from) {
    if (!into.has(family)) into.set(family, new Map());
    for (const [job, value] of byJob) into.get(family)!.set(job, value);
  }
  return into;
}

/**
 * Updates this job's series in METRICS_FILE and keeps every other job's, for node_exporter's
 * textfile collector. Runs of different jobs share the file: a lock file serialises the
 * read-modify-write, and the new content is renamed into place so the collector never reads half.
 */
export async function writeMetricsFile(file: string, outcome: RunOutcome): Promise<void> {
  await fs.mkdir(path.dirname(file), { recursive: true });
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
    await fs.writeFile(temp, renderMetrics(merge(parseOwnMetrics(previous), samplesOf(outcome))), { mode: 0o644 });
    await fs.rename(temp, file);
  } finally {
    await release();
  }
}

/**
 * POSTs this run's samples to the Pushgateway under job="planner-jobs", planner_job=<job>.
 * POST (not PUT) replaces only the families sent, so a failed run keeps the last success time.
 */
export async function pushMetrics(gatewayUrl: string, outcome: RunOutcome): Promise<void> {
  const url = `${gatewayUrl.replace(/\/+$/, '')}/metrics/job/planner-jobs/${LABEL}/${encodeURIComponent(outcome.job)}`;
  const response = await fetch(url, {
    method: 'POST',
    body: renderMetrics(samplesOf(outcome)),
    headers: { 'content-type': 'text/plain; version=0.0.4' },
    signal: AbortSignal.timeout(HEARTBEAT_TIMEOUT_MS),
  });
  await response.body?.cancel();
  if (!response.ok) throw new Error(`the Pushgateway answered ${response.status}`);
}

/** Both outputs, as configured; a failure is logged and never changes the run's exit code. */
export async function publishMetrics(
  targets: { metricsFile?: string; pushgatewayUrl?: string },
  outcome: RunOutcome,
  log: Logger,
): Promise<void> {
  if (targets.metricsFile) {
    await writeMetricsFile(targets.metricsFile, outcome).catch((err) =>
      log.warn({ err, file: targets.metricsFile }, `could not write METRICS_FILE: ${describeError(err)}`),
    );
  }
  if (targets.pushgatewayUrl) {
    await pushMetrics(targets.pushgatewayUrl, outcome).catch((err) =>
      log.warn({ err }, `could not push metrics to PUSHGATEWAY_URL: ${describeError(err.cause ?? err)}`),
    );
  }
}
