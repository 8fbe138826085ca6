import type { Knex } from 'knex';
import { createKnex } from '../../src/core/db.js';
import { runCli, sleep, startCli, waitUntil, type Exit, type Running } from '../run.js';
import { HARNESS_APP, type ChaosServer } from '../server.js';
import type { ChaosJob, Counts, World } from '../types.js';

/** A run and the exit codes the scenario allows it (137: we killed it on purpose). */
export interface RunRecord {
  code: number;
  allowed: number[];
  /** The last error line it logged, for the report when it exited with a code it should not. */
  message: string;
  /** The end of its stderr when it failed (exit 1, 75, a timeout): for latest.json, to see how it failed. */
  stderrTail?: string;
}

export interface ScenarioResult {
  runs: RunRecord[];
  /** Faults that hit a working run (kills, terminated connections, restarts): an at-least-once job may duplicate per fault. */
  faults: number;
  /** From the fault (or the first start, when there is none) to the end of the run that finished the work. */
  recoverySeconds: number | null;
  /** Counted right after the fault, before any rerun: a fault must not leave an item half-written. */
  halfWrittenAfterFault?: number;
  /** What the scenario itself found changed or left that must not be (beyond the world's own check). */
  wrong?: number;
  note?: string;
}

export interface Scenario {
  name: string;
  /** Share of the job's full item count it runs on (the 10,000 items are for the concurrent runs; faults need fewer). */
  scale: number;
  /** Part of `--quick`. */
  quick: boolean;
  /** Whether it times faults by a measured run (ScenarioContext.calibrate, done before it starts). */
  calibrated(job: ChaosJob): boolean;
  /** Why it cannot run here, if it cannot. */
  skip?(server: ChaosServer): string | undefined;
  appliesTo(job: ChaosJob): boolean;
  run(ctx: ScenarioContext): Promise<ScenarioResult>;
}

/** Mulberry32: a seeded random source, so a failing run can be replayed with `--seed`. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Everything a scenario works with: one job, its seeded database and world, and the clock of its runs. */
export class ScenarioContext {
  knex: Knex;
  /** Runs so far on the `--now` clock: run k treats `job.now + k * job.stepMs` as now. */
  private step = 0;
  readonly runs: RunRecord[] = [];

  constructor(
    readonly server: ChaosServer,
    readonly job: ChaosJob,
    readonly world: World,
    readonly database: { name: string; url: string },
    readonly quick: boolean,
    readonly random: () => number,
    readonly timeoutMs: number,
  ) {
    this.knex = createKnex(database.url, HARNESS_APP);
  }

  get url(): string {
    return this.database.url;
  }

  private workSeconds?: number;

  /**
   * How long one uninterrupted run works on this data (from its first recorded moment to its exit),
   * measured once on a copy of the seeded database, so kills can be timed to land mid-run. The
   * receivers then forget what the measuring run sent.
   */
  async calibrate(): Promise<number> {
    if (this.workSeconds !== undefined) return this.workSeconds;
    await this.knex.destroy();
    const copy = await this.server.database(this.database.name);
    this.knex = createKnex(this.database.url, HARNESS_APP);
    const knex = createKnex(copy.url, HARNESS_APP);
    try {
      const before = await lastRunId(knex);
      const run = startCli(this.args(this.job.now), { ...this.env, DATABASE_URL: copy.url }, this.timeoutMs);
      await waitUntil(() => jobIsWorking(knex, this.job.name, before), 30_000, run.done);
      const started = Date.now();
      await run.done;
      this.workSeconds = (Date.now() - started) / 1000;
    } finally {
      await knex.destroy();
      await this.server.drop(copy.name);
      await this.world.reset?.();
    }
    return this.workSeconds;
  }

  /** The `--now` of the next run on the clock (each call moves it one step). */
  nextNow(): Date {
    return new Date(this.job.now.getTime() + this.step++ * this.job.stepMs);
  }

  args(now: Date): string[] {
    return [this.job.name, '--now', now.toISOString(), '--batch-size', String(this.job.batchSize)];
  }

  get env(): Record<string, string> {
    return { DATABASE_URL: this.url, ...this.world.env };
  }

  /** Starts a run; `working()` then tells when it has connected and recorded itself in job_runs. */
  async start(now = this.nextNow()): Promise<Running & { working(): Promise<boolean> }> {
    const before = await lastRunId(this.knex);
    const run = startCli(this.args(now), this.env, this.timeoutMs);
    return { ...run, working: () => jobIsWorking(this.knex, this.job.name, before) };
  }

  record(exit: Exit, allowed: number[]): Exit {
    const failed = exit.timedOut || (exit.code !== 0 && exit.code !== 137);
    // An uncaught exception also exits 1, but with a stack instead of the message an operator should get.
    const crashed = failed && /^Node\.js v\d+/m.test(exit.stderr);
    const message = exit.timedOut ? 'timed out (killed)' : lastErrorLine(exit.stderr);
    this.runs.push({
      code: exit.code,
      allowed: crashed ? [] : allowed,
      message: crashed ? `crashed (uncaught): ${message}` : message,
      stderrTail: failed ? exit.stderr.trim().split('\n').slice(-40).join('\n') : undefined,
    });
    return exit;
  }

  /**
   * Records the run a fault hit, and counts right after it (before any rerun). It must exit 75
   * or 1; 0 only when it really finished everything (the fault caught a connection it no longer
   * needed and it carried on with a new one).
   */
  async recordFaulted(exit: Exit): Promise<Counts> {
    const counts = await this.check();
    this.record(exit, counts.lost === 0 ? [0, 1, 75] : [1, 75]);
    return counts;
  }

  check(): Promise<Counts> {
    return this.world.check(this.knex);
  }

  /** The harness's connections die with a server restart: open new ones. */
  async reconnect(): Promise<void> {
    await this.knex.destroy().catch(() => undefined);
    this.knex = createKnex(this.url, HARNESS_APP);
  }

  /**
   * Waits until a run is working (or exited, or 30 s passed), then a random moment between `from`
   * and `to` (fractions of a calibrated run's work) more; false when it never worked.
   */
  async waitMidRun(run: Running & { working(): Promise<boolean> }, from: number, to: number): Promise<boolean> {
    if (this.workSeconds === undefined) throw new Error('waitMidRun needs the scenario to be calibrated first');
    const seconds = this.workSeconds;
    const working = await waitUntil(run.working, 30_000, run.done);
    await sleep((from + this.random() * (to - from)) * seconds * 1000);
    return working;
  }

  /**
   * Reruns (each a step later on the clock) until the work is done, at most `maxReruns` times.
   * Returns how long that took and how many reruns it needed.
   */
  async finish(allowed: number[] = [0], maxReruns = 3): Promise<{ seconds: number; reruns: number; done: boolean }> {
    const started = Date.now();
    for (let rerun = 1; rerun <= maxReruns; rerun++) {
      this.record(await runCli(this.args(this.nextNow()), this.env, this.timeoutMs), allowed);
      if ((await this.check()).lost === 0) return { seconds: (Date.now() - started) / 1000, reruns: rerun, done: true };
    }
    return { seconds: (Date.now() - started) / 1000, reruns: maxReruns, done: false };
  }

  async close(): Promise<void> {
    await this.knex.destroy();
  }
}

async function lastRunId(knex: Knex): Promise<number> {
  const { rows } = await knex.raw<{ rows: { id: string | null }[] }>('SELECT max(id) AS id FROM job_runs');
  return Number(rows[0].id ?? 0);
}

/** True once the job's own connection (application_name `planner-jobs:<job>`) is open and a run after `runId` is recorded. */
async function jobIsWorking(knex: Knex, job: string, runId: number): Promise<boolean> {
  const { rows } = await knex.raw<{ rows: { working: boolean }[] }>(
    `SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE application_name = :app AND datname = current_database())
            AND EXISTS (SELECT 1 FROM job_runs WHERE id > :runId AND status = 'running') AS working`,
    { app: `planner-jobs:${job}`, runId },
  );
  return rows[0].working;
}

/**
 * What an operator reads of a run that stopped: its last error log line, or a plain line (the
 * CLI's own messages; of a crash, the line naming the error rather than Node's version banner).
 */
function lastErrorLine(stderr: string): string {
  const lines = stderr.trim().split('\n').reverse();
  for (const line of lines) {
    const entry = line.startsWith('{"') ? (JSON.parse(line) as { level?: number; msg?: string }) : undefined;
    if (entry) {
      if ((entry.level ?? 0) >= 50) return entry.msg ?? line;
      continue;
    }
    if (!line.trim() || /^Node\.js v/.test(line) || /^\s+at /.test(line)) continue;
    return lines.filter((l) => /^\w*error\b/i.test(l)).at(-1) ?? line;
  }
  return '';
}

/** A fault's "finish" note: how many reruns the work needed. */
export const rerunNote = (finished: { reruns: number; done: boolean }) =>
  finished.done ? `${finished.reruns} rerun(s) to finish` : `not finished after ${finished.reruns} reruns`;
