import type { JobName } from './catalog.js';
import { classify, type ExitCode } from './errors.js';
import { Heartbeat } from './heartbeat.js';
import type { Session } from './io.js';
import { publishMetrics } from './metrics.js';
import type { RunSummary } from './runner.js';

export interface MonitoredResult {
  exitCode: ExitCode;
  summary: RunSummary;
}

/**
 * Wraps one real run with what monitoring sees of it: the heartbeat's `/start` and
 * `/<exit code>` pings, and the metrics (METRICS_FILE, PUSHGATEWAY_URL). A run that never got
 * going (database unreachable: 75, schema behind: 78) is reported with its exit code too.
 * Dry runs are an operator's rehearsal: they neither ping nor touch the metrics.
 */
export async function monitorRun(
  session: Session,
  job: JobName,
  dryRun: boolean,
  run: () => Promise<MonitoredResult>,
): Promise<ExitCode> {
  const { heartbeatUrl, metricsFile, pushgatewayUrl } = session.config;
  if (dryRun || (!heartbeatUrl && !metricsFile && !pushgatewayUrl)) return (await run()).exitCode;

  const heartbeat = heartbeatUrl ? new Heartbeat(heartbeatUrl, job, session.log) : undefined;
  await heartbeat?.start();
  const started = Date.now();
  const report = async (exitCode: ExitCode, summary?: RunSummary) => {
    await heartbeat?.finish(exitCode, summary);
    await publishMetrics(
      { metricsFile, pushgatewayUrl },
      {
        job,
        exitCode,
        succeeded: summary?.status === 'succeeded',
        finishedAt: new Date(),
        durationSeconds: (Date.now() - started) / 1000,
        processed: summary?.processed ?? 0,
        failed: summary?.failed ?? 0,
      },
      session.log,
    );
  };
  let result: MonitoredResult;
  try {
    result = await run();
  } catch (err) {
    await report(classify(err).exitCode);
    throw err;
  }
  await report(result.exitCode, result.summary);
  return result.exitCode;
}
