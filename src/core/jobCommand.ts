import { JOBS } from './catalog.js';
import { assertSchemaCurrent, openDatabase } from './db.js';
import { ExitCode } from './errors.js';
import type { Session } from './io.js';
import { monitorRun, queueStateForMetrics, reportDisabled } from './monitoring.js';
import { executeRun, type Job, type RunSummary } from './runner.js';

/** The options every job command accepts (the contract's global options). */
export interface GlobalOptions {
  dryRun?: boolean;
  now?: Date;
  batchSize?: number;
  maxRuntime?: number;
  json?: boolean;
}

/**
 * Everything a job command does around its job: enabled check, monitoring, database, schema
 * check, the job's preflight (before the run is recorded), run, summary. An on-demand command
 * (`recordAs`) is neither turned off by its job's JOB_<NAME>_ENABLED nor monitored as that job.
 */
export async function runJobCommand(session: Session, job: Job, options: GlobalOptions): Promise<ExitCode> {
  const { config, log, io } = session;
  const started = Date.now();
  if (!job.recordAs && !config.jobs[job.name].enabled) {
    log.info(`${job.name} is turned off (JOB_..._ENABLED=false); nothing done`);
    await reportDisabled(session, job.name, options.dryRun === true);
    printSummary(
      session,
      {
        job: job.name,
        status: 'skipped',
        reason: 'disabled',
        processed: 0,
        failed: 0,
        skipped: 0,
        dry_run: !!options.dryRun,
        duration_ms: 0,
        run_id: null,
      },
      options,
    );
    return ExitCode.ok;
  }
  const run = async () => {
    const db = await openDatabase(config, log, `planner-jobs:${job.recordAs ?? job.name}`);
    try {
      await assertSchemaCurrent(db.knex);
      if (!options.dryRun) await job.preflight?.(config);
      const now = options.now ?? new Date();
      const { summary, exitCode } = await executeRun(
        job,
        { knex: db.knex, config, log, progress: session.progress },
        {
          now,
          nowFixed: options.now !== undefined,
          dryRun: options.dryRun === true,
          batchSize: options.batchSize ?? JOBS[job.name].batchSize,
          maxRuntimeSeconds: options.maxRuntime ?? JOBS[job.name].maxRuntimeSeconds,
          signal: io.signal,
        },
      );
      session.stopProgress();
      printSummary(session, { ...summary, duration_ms: Date.now() - started }, options);
      return { exitCode, summary, queue: await queueStateForMetrics(session, db.knex, job.name, options.dryRun === true) };
    } finally {
      session.stopProgress();
      await db.close();
    }
  };
  return job.recordAs ? (await run()).exitCode : monitorRun(session, job.name, options.dryRun === true, run);
}

type PrintableSummary = Omit<RunSummary, 'run_id' | 'now' | 'counts' | 'ids'> & {
  run_id: string | null;
  counts?: Record<string, number>;
  ids?: Record<string, string[]>;
};

/** The run's summary on stdout: one JSON object with `--json`, a few readable lines otherwise. */
export function printSummary(session: Session, summary: PrintableSummary, options: GlobalOptions): void {
  if (options.json) {
    session.print(JSON.stringify(summary));
    return;
  }
  const what = summary.dry_run ? `${summary.job} dry run (nothing written, nothing sent)` : summary.job;
  const verb = summary.dry_run && summary.status === 'succeeded' ? 'would process' : 'processed';
  const seconds = (summary.duration_ms / 1000).toFixed(1);
  const head = `${what}: ${summary.status}${summary.reason ? ` (${summary.reason})` : ''} in ${seconds}s`;
  session.print(
    `${head} · ${verb} ${summary.processed}, failed ${summary.failed}, skipped ${summary.skipped}${summary.run_id ? ` · run ${summary.run_id}` : ''}`,
  );
  for (const [counter, n] of Object.entries(summary.counts ?? {})) {
    const ids = summary.dry_run ? summary.ids?.[counter] : undefined;
    session.print(`  ${counter}: ${n}${ids?.length ? ` (${ids.join(', ')}${n > ids.length ? ', …' : ''})` : ''}`);
  }
  if (summary.error) session.print(`  error: ${summary.error}`);
}
