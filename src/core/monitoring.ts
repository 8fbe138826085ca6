import type { Knex } from 'knex';
import type { JobName } from './catalog.js';
import { describeError, classify, type ExitCode } from './errors.js';
import { Heartbeat } from './heartbeat.js';
import type { Invocation } from './invocation.js';
import { warnOutsideFault } from './logger.js';
import { publishMetrics, type MetricsReport, type QueueState } from './metrics.js';
import { readQueueState } from './queueState.js';
import type { RunSummary } from './runner.js';
import { parseCron } from './schedule.js';

export interface MonitoredResult {
  exitCode: ExitCode;
  summary: RunSummary;
  /** The job's queue when the run ended (queue jobs only, and only when metrics are wanted). */
  queue?: QueueState;
}

/**
 * Counters reported on every run of a job, 0 when the run counted none, so that the alert
 * ratios (push failures, deleted subscriptions) and the dashboard always find their series.
 */
export const REPORTED_COUNTERS: Partial<Record<JobName, readonly string[]>> = {
  notifications: ['push_delivered', 'push_failed', 'push_retry', 'push_gone', 'push_quarantined'],
  exports: ['exported', 'failed_for_good', 'retry_scheduled', 'bytes'],
};

const wantsMetrics = (invocation: Invocation) => Boolean(invocation.config.metricsFile || invocation.config.pushgatewayUrl);

/** The configured schedule's period; undefined when it does not parse (`crontab` and `status` report that, exit 78). */
function periodSeconds(invocation: Invocation, job: JobName): number | undefined {
  try {
    return parseCron(invocation.config.jobs[job].schedule).periodSeconds;
  } catch {
    return undefined;
  }
}

/**
 * Wraps one real run with what monitoring sees of it: the heartbeat's `/start` and
 * `/<exit code>` pings, and the metrics (METRICS_FILE, PUSHGATEWAY_URL). A run that never got
 * going (database unreachable: 75, schema behind: 78) is reported with its exit code too.
 * Dry runs are an operator's rehearsal: they neither ping nor touch the metrics.
 */
export async function monitorRun(
  invocation: Invocation,
  job: JobName,
  dryRun: boolean,
  run: () => Promise<MonitoredResult>,
): Promise<ExitCode> {
  const { heartbeatUrl, metricsFile, pushgatewayUrl } = invocation.config;
  if (dryRun || (!heartbeatUrl && !wantsMetrics(invocation))) return (await run()).exitCode;

  const heartbeat = heartbeatUrl ? new Heartbeat(heartbeatUrl, job, invocation.log) : undefined;
  await heartbeat?.start();
  const started = Date.now();
  const report = async (exitCode: ExitCode, result?: MonitoredResult) => {
    const summary = result?.summary;
    await heartbeat?.finish(exitCode, summary);
    const zeros = Object.fromEntries((REPORTED_COUNTERS[job] ?? []).map((counter) => [counter, 0]));
    await publishMetrics(
      { metricsFile, pushgatewayUrl },
      {
        job,
        enabled: true,
        periodSeconds: periodSeconds(invocation, job),
        run: {
          exitCode,
          succeeded: summary?.status === 'succeeded',
          finishedAt: new Date(),
          durationSeconds: (Date.now() - started) / 1000,
          processed: summary?.processed ?? 0,
          failed: summary?.failed ?? 0,
          counts: { ...zeros, ...summary?.counts },
        },
        queue: result?.queue,
      },
      invocation.log,
    );
  };
  let result: MonitoredResult;
  try {
    result = await run();
  } catch (err) {
    await report(classify(err).exitCode);
    throw err;
  }
  await report(result.exitCode, result);
  return result.exitCode;
}

/**
 * A turned-off job's invocation (JOB_<NAME>_ENABLED=false) reports `planner_jobs_enabled 0`
 * and nothing of a run, so the staleness alerts leave the job alone; it does not ping, and a
 * dry run reports nothing.
 */
export async function reportDisabled(invocation: Invocation, job: JobName, dryRun: boolean): Promise<void> {
  if (dryRun || !wantsMetrics(invocation)) return;
  const { metricsFile, pushgatewayUrl } = invocation.config;
  const report: MetricsReport = { job, enabled: false, periodSeconds: periodSeconds(invocation, job) };
  await publishMetrics({ metricsFile, pushgatewayUrl }, report, invocation.log);
}

/**
 * The job's queue state for the metrics, read once at the end of a real run on the run's own
 * connection; undefined for dry runs, jobs without a queue, or when no metrics are wanted. A
 * failed read is a `warn` line and never changes the run's exit code.
 */
export async function queueStateForMetrics(
  invocation: Invocation,
  knex: Knex,
  job: JobName,
  dryRun: boolean,
): Promise<QueueState | undefined> {
  if (dryRun || !wantsMetrics(invocation)) return undefined;
  return readQueueState(knex, job).catch((err) => {
    warnOutsideFault(invocation.log, err, {}, `could not read the ${job} queue for the metrics: ${describeError(err)}`);
    return undefined;
  });
}
