import os from 'node:os';
import type { Knex } from 'knex';
import type { JobName, OnDemandCommand } from './catalog.js';
import type { Config } from './config.js';
import { runClock } from './clock.js';
import { withDryRun } from './db.js';
import { ExitCode, classify, type ExitError } from './errors.js';
import { Follower, followWindow, type FollowSource } from './follow.js';
import type { Logger } from './logger.js';
import { redactSecrets } from './redact.js';
import { Tally } from './tally.js';

export interface RunOptions {
  now: Date;
  /** True when the operator gave `--now` (it is then kept in job_runs.details). */
  nowFixed: boolean;
  dryRun: boolean;
  batchSize: number;
  maxRuntimeSeconds: number;
  /** Aborted by SIGTERM / SIGINT: the run stops claiming, ends its batch and records `interrupted`. */
  signal?: AbortSignal;
}

/** What a job sees while it runs. */
export interface RunContext {
  readonly job: JobName;
  readonly runId: string;
  /**
   * The instant this round of the run treats as now: `--now` (else the clock at the start), and
   * in a following run the run's clock when a round starts. Fixed within a round: its batches
   * agree on what is due.
   */
  readonly now: Date;
  /** The run's clock: the run's first now plus the real time elapsed since (leases, deadlines). */
  clock(): Date;
  readonly dryRun: boolean;
  readonly batchSize: number;
  readonly config: Config;
  readonly log: Logger;
  /**
   * Where batches open their transactions (`ctx.db.transaction(...)`): the pool, or in a dry run
   * one transaction rolled back at the end, so each batch becomes a savepoint of it.
   */
  readonly db: Knex | Knex.Transaction;
  readonly tally: Tally;
  /** Aborted by SIGTERM / SIGINT: for work that must stop mid-item (a long export) rather than at a batch's end. */
  readonly signal?: AbortSignal;
  /** True once the time budget is spent or a signal asked the run to stop: claim nothing more. */
  shouldStop(): boolean;
  /**
   * Called when the queue is drained. Not following (PLANNER_FOLLOW off, a dry run, a job without
   * `follow`): false at once, the run ends. Following: waits for the next work (src/core/follow.ts),
   * advances `now` to the run's clock and resolves true for another round, or false when the
   * window ended or a signal came.
   */
  waitForWork(): Promise<boolean>;
  /** Ends the run as `skipped`: it did nothing, because another run holds the job's lock (the contract's status). */
  skipRun(reason: string): void;
  /** One line for the spinner. */
  progress(text: string): void;
}

export interface Job {
  /** The job whose settings (batch size, time budget) and locks the run uses. */
  name: JobName;
  /** Set when an operator's on-demand command runs the job's work: the name in job_runs, the log's `job` and the summary. */
  recordAs?: OnDemandCommand;
  /**
   * Checks the outside services the run needs (export storage) before the run is recorded or
   * anything claimed; throws an ExitError (75 unavailable now, 78 misconfigured). Not called for
   * a dry run, which writes nowhere.
   */
  preflight?(config: Config): Promise<void>;
  /**
   * Refuses input only the database can judge (an unknown user for `export --user`) before the run
   * is recorded, dry run or not: throws ExitError 64.
   */
  checkInput?(db: Knex): Promise<void>;
  /** Set when the job can follow (PLANNER_FOLLOW): its wake-ups and next due instant. */
  follow?: FollowSource;
  run(ctx: RunContext): Promise<void>;
}

export type RunStatus = 'succeeded' | 'failed' | 'skipped';

export interface RunSummary {
  job: JobName | OnDemandCommand;
  status: RunStatus;
  processed: number;
  failed: number;
  /** Rows looked at and left alone in this run (`tally.leaveAlone`); not the status `skipped`. */
  left_alone: number;
  dry_run: boolean;
  duration_ms: number;
  run_id: string;
  now: string;
  counts: Record<string, number>;
  /** Affected ids per counter (all of them, or the first ones when there are many). */
  ids: Record<string, string[]>;
  reason?: string;
  error?: string;
}

export interface RunDeps {
  knex: Knex;
  /** Which database the run works on, in words (Database.description), for its start line. */
  database?: string;
  config: Config;
  log: Logger;
  progress?: (text: string) => void;
}

/**
 * The life of one run, the same for every job: a `job_runs` row (running → succeeded / failed /
 * skipped), start and end log lines, the dry-run transaction, the time budget, the stop signal,
 * and the exit code.
 */
export async function executeRun(
  job: Job,
  deps: RunDeps,
  options: RunOptions,
): Promise<{ summary: RunSummary; exitCode: ExitCode }> {
  const { knex, config } = deps;
  const started = Date.now();
  const deadline = started + options.maxRuntimeSeconds * 1000;
  const recorded = job.recordAs ?? job.name;
  const [{ id: runId }] = await knex('job_runs')
    .insert({ job: recorded, status: 'running', dry_run: options.dryRun, host: os.hostname() })
    .returning<{ id: string }[]>('id');
  const log = deps.log.child({ job: recorded, runId });
  log.info(
    { dryRun: options.dryRun, now: options.now.toISOString(), batchSize: options.batchSize, database: deps.database },
    `${recorded} started`,
  );
  const clock = runClock(options.now);
  let roundNow = options.now;
  const follower =
    job.follow && config.follow && !options.dryRun
      ? await Follower.open({
          source: job.follow,
          db: knex,
          log,
          clock,
          ...followWindow(config.jobs[job.name].schedule, started, deadline),
          listen: config.listen,
          signal: options.signal,
        })
      : undefined;

  const tally = new Tally();
  let skipReason: string | undefined;
  let budgetSpent = false;
  const interrupted = () => options.signal?.aborted === true;
  const context = (db: Knex | Knex.Transaction): RunContext => ({
    job: job.name,
    runId,
    get now() {
      return roundNow;
    },
    clock,
    dryRun: options.dryRun,
    batchSize: options.batchSize,
    config,
    log,
    db,
    tally,
    signal: options.signal,
    shouldStop: () => {
      if (Date.now() >= deadline) budgetSpent = true;
      return budgetSpent || interrupted();
    },
    skipRun: (reason) => {
      skipReason = reason;
    },
    waitForWork: async () => {
      if (!follower || !(await follower.wait(roundNow))) return false;
      roundNow = clock();
      return true;
    },
    progress: (text) => deps.progress?.(`${job.name}: ${text}`),
  });

  let failure: ExitError | undefined;
  try {
    await withDryRun(knex, options.dryRun, (db) => job.run(context(db)));
  } catch (err) {
    failure = classify(err);
  } finally {
    await follower?.close();
  }

  // A following run stopped by a signal while it waited had nothing in hand: it ends as it would
  // have at its window's end, not as an interrupted run.
  const idleStop = follower?.interruptedWhileWaiting === true;
  const cutShort = interrupted() && !idleStop;
  const status: RunStatus = failure || cutShort || tally.failedCount > 0 ? 'failed' : skipReason ? 'skipped' : 'succeeded';
  const reason = failure
    ? undefined
    : cutShort
      ? 'interrupted'
      : idleStop
        ? 'stopped while waiting'
        : (skipReason ?? (budgetSpent ? 'time budget spent' : undefined));
  const error = failure && redactSecrets(failure.message);
  const summary: RunSummary = {
    job: recorded,
    status,
    processed: tally.processed,
    failed: tally.failedCount,
    left_alone: tally.leftAlone,
    dry_run: options.dryRun,
    duration_ms: Date.now() - started,
    run_id: runId,
    now: options.now.toISOString(),
    counts: tally.counts,
    ids: tally.ids,
    ...(reason && { reason }),
    ...(error && { error }),
  };
  const details = {
    ...tally.details(),
    duration_ms: summary.duration_ms,
    ...(options.nowFixed && { now: summary.now }),
    ...(reason && { reason }),
    ...(failure && { error: errorDetails(failure) }),
  };
  await knex('job_runs')
    .where({ id: runId })
    .update({ status, finished_at: knex.fn.now(), processed: summary.processed, failed: summary.failed, details })
    .catch((err) => log.error({ err }, 'could not record the end of the run in job_runs'));

  for (const item of tally.failures) log.warn({ id: item.id, reason: item.reason }, `${recorded}: item ${item.id} failed`);
  const endLine = {
    status,
    processed: summary.processed,
    failed: summary.failed,
    leftAlone: summary.left_alone,
    durationMs: summary.duration_ms,
    counts: tally.counts,
    ids: tally.ids,
    reason,
  };
  if (failure) log.error({ ...endLine, err: failure.cause ?? failure }, `${recorded} failed: ${error}`);
  else if (status === 'failed')
    log.warn(endLine, `${recorded} finished with ${summary.failed} failed item(s)${reason ? ` (${reason})` : ''}`);
  else log.info(endLine, `${recorded} ${status}${reason ? ` (${reason})` : ''}`);

  const exitCode = failure ? failure.exitCode : status === 'failed' ? ExitCode.failed : ExitCode.ok;
  return { summary, exitCode };
}

function errorDetails(error: ExitError) {
  const cause = error.cause as { code?: unknown; detail?: unknown; where?: unknown; context?: unknown } | undefined;
  return {
    message: redactSecrets(error.message),
    exit_code: error.exitCode,
    ...(typeof cause?.code === 'string' && { code: cause.code }),
    ...(typeof cause?.detail === 'string' && { detail: redactSecrets(cause.detail) }),
    ...(cause?.context !== undefined && { context: cause.context }),
  };
}
