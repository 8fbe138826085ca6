import { JOBS, jobEnvName } from './catalog.js';
import { ExitCode } from './errors.js';
import type { Invocation } from './invocation.js';
import { withDatabase } from './lifecycle.js';
import { monitorRun, queueStateForMetrics, reportDisabled } from './monitoring.js';
import type { GlobalOptions } from './options.js';
import { executeRun, type Job, type RunSummary } from './runner.js';

/**
 * Everything a job command does around its job: enabled check, monitoring, the lifecycle's
 * database (open, schema check, now), the job's preflight (before the run is recorded), run,
 * summary. An on-demand command (`recordAs`) is neither turned off by its job's
 * JOB_<NAME>_ENABLED nor monitored as that job.
 */
export async function runJobCommand(invocation: Invocation, job: Job, options: GlobalOptions): Promise<ExitCode> {
  const { config, log, io } = invocation;
  const started = Date.now();
  const dryRun = options.dryRun === true;
  if (!job.recordAs && !config.jobs[job.name].enabled) {
    log.info(`${job.name} is turned off (JOB_${jobEnvName(job.name)}_ENABLED=false); nothing done`);
    await reportDisabled(invocation, job.name, dryRun);
    printSummary(
      invocation,
      {
        job: job.name,
        status: 'skipped',
        reason: 'disabled',
        processed: 0,
        failed: 0,
        left_alone: 0,
        dry_run: dryRun,
        duration_ms: 0,
        run_id: null,
      },
      options,
    );
    return ExitCode.ok;
  }
  const run = () =>
    withDatabase(invocation, options, { command: job.recordAs ?? job.name, schemaCurrent: true }, async (db, clock) => {
      await job.checkInput?.(db.knex);
      if (!dryRun) await job.preflight?.(config);
      const { summary, exitCode } = await executeRun(
        job,
        { knex: db.knex, database: db.description, config, log, progress: invocation.progress },
        {
          ...clock,
          dryRun,
          batchSize: options.batchSize ?? JOBS[job.name].batchSize,
          maxRuntimeSeconds: options.maxRuntime ?? JOBS[job.name].maxRuntimeSeconds,
          signal: io.signal,
        },
      );
      invocation.stopProgress();
      printSummary(invocation, { ...summary, duration_ms: Date.now() - started }, options);
      return { exitCode, summary, queue: await queueStateForMetrics(invocation, db.knex, job.name, dryRun) };
    });
  return job.recordAs ? (await run()).exitCode : monitorRun(invocation, job.name, dryRun, run);
}

type PrintableSummary = Omit<RunSummary, 'run_id' | 'now' | 'counts' | 'ids'> & {
  run_id: string | null;
  counts?: Record<string, number>;
  ids?: Record<string, string[]>;
};

/** The run's summary on stdout: one JSON object with `--json`, a few readable lines otherwise. */
export function printSummary(invocation: Invocation, summary: PrintableSummary, options: GlobalOptions): void {
  if (options.json) {
    invocation.print(JSON.stringify(summary));
    return;
  }
  const what = summary.dry_run ? `${summary.job} dry run (nothing written, nothing sent)` : summary.job;
  const verb = summary.dry_run && summary.status === 'succeeded' ? 'would process' : 'processed';
  const seconds = (summary.duration_ms / 1000).toFixed(1);
  const head = `${what}: ${summary.status}${summary.reason ? ` (${summary.reason})` : ''} in ${seconds}s`;
  invocation.print(
    `${head} · ${verb} ${summary.processed}, failed ${summary.failed}, left alone ${summary.left_alone}${summary.run_id ? ` · run ${summary.run_id}` : ''}`,
  );
  for (const [counter, n] of Object.entries(summary.counts ?? {})) {
    const ids = summary.dry_run ? summary.ids?.[counter] : undefined;
    invocation.print(`  ${counter}: ${n}${ids?.length ? ` (${ids.join(', ')}${n > ids.length ? ', …' : ''})` : ''}`);
  }
  if (summary.error) invocation.print(`  error: ${summary.error}`);
}
