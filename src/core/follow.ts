import { randomBytes } from 'node:crypto';
import type { Knex } from 'knex';
import pg from 'pg';
import type { Logger } from './logger.js';
import { nextFire } from './schedule.js';

/**
 * Following: a `reminders` or `notifications` run that has drained its queue waits for the next
 * piece of work instead of exiting, and handles it the moment it is due, until its window ends.
 * One run per schedule tick (cron, a CronJob) so covers time without gaps: its window lasts until
 * the schedule's next tick plus `OVERLAP_MS`, when the next run is already up. Overlapping runs
 * are safe: both claim with SKIP LOCKED or leases.
 *
 * A waiting run wakes at the earliest of:
 * - the next due instant (the job's `nextDue`, on the run's clock: `--now` plus the time elapsed);
 * - a NOTIFY on the job's channel, sent by the triggers of migration 20261130000000_follow_notify
 *   when a row is inserted or rescheduled (the API's reminders, `reminders`' notifications),
 *   received on a dedicated connection that LISTENs;
 * - without LISTEN (PLANNER_LISTEN=false, or a connection that does not deliver notifications,
 *   such as PgBouncer in transaction mode): every `POLL_MS`; with it, every `SAFETY_POLL_MS`,
 *   in case a notification was lost;
 * - the end of the window, or a signal (SIGTERM): then the run ends.
 * Every wake-up is one round of the job (a claim that finds nothing costs one indexed query).
 */

/** What a job tells the follower: where its wake-ups come from and when its next row falls due. */
export interface FollowSource {
  /** The NOTIFY channel its table's triggers signal. */
  channel: string;
  /** The earliest instant strictly after `after` at which a row becomes due, or null when none is known. */
  nextDue(db: Knex, after: Date): Promise<Date | null>;
}

/** How long a run's window outlasts the next tick: the next run's start-up (a pod's scheduling and start). */
export const OVERLAP_MS = 15_000;
/** Without LISTEN, how often a waiting run looks for work. */
export const POLL_MS = 1_000;
/** With LISTEN, how often a waiting run looks anyway. */
export const SAFETY_POLL_MS = 10_000;
/** How long the LISTEN connection's self-test waits for its own notification. */
const PROBE_TIMEOUT_MS = 1_000;

/**
 * When a following run started at `startedMs` stops waiting, in real time (milliseconds since the
 * epoch: the schedule's ticks are real, also when `--now` replays another instant): the schedule's
 * next tick after its start plus `OVERLAP_MS`, never past `deadlineMs` (the time budget, the hard
 * limit). `gap` says why the run ends before the next run is due to start, leaving time that no
 * run covers: the budget ends first (a schedule slower than the budget), or the schedule does not
 * parse (the jobs never fail on a schedule: only `crontab` and `status` validate them).
 */
export function followWindow(schedule: string, startedMs: number, deadlineMs: number): { windowEndMs: number; gap?: string } {
  let nextTick: number;
  try {
    nextTick = nextFire(schedule, new Date(startedMs)).getTime();
  } catch {
    return { windowEndMs: deadlineMs, gap: `the schedule "${schedule}" does not parse, so the window is the time budget alone` };
  }
  if (deadlineMs >= nextTick) return { windowEndMs: Math.min(deadlineMs, nextTick + OVERLAP_MS) };
  const budget = Math.round((deadlineMs - startedMs) / 1000);
  return {
    windowEndMs: deadlineMs,
    gap: `the time budget (${budget} s) ends before the next run of "${schedule}" (${new Date(nextTick).toISOString()}): what falls due in between waits for it; raise --max-runtime past the schedule's period, or run every minute`,
  };
}

export interface FollowerOptions {
  source: FollowSource;
  db: Knex;
  log: Logger;
  /** The run's clock: `--now` plus the time elapsed since the run started. */
  clock: () => Date;
  /** Real time (ms since the epoch) at which waiting ends. */
  windowEndMs: number;
  /** Why the window leaves time uncovered, when it does (followWindow): logged as a warning. */
  gap?: string;
  listen: boolean;
  signal?: AbortSignal;
}

/**
 * Waits for a following run's next round. Open it before the first round (so nothing written
 * during that round is missed), call `wait` after each round, `close` at the end.
 */
export class Follower {
  /** True when a signal ended a wait: the run was idle, so it stopped cleanly (exit 0), not mid-work. */
  interruptedWhileWaiting = false;
  private notified = false;
  private wake?: () => void;
  private client?: pg.Client;

  private constructor(private readonly options: FollowerOptions) {}

  /** Starts listening (unless PLANNER_LISTEN=false); a connection that cannot is logged once, and the run polls. */
  static async open(options: FollowerOptions): Promise<Follower> {
    const follower = new Follower(options);
    if (options.listen) await follower.listen();
    const until = new Date(options.windowEndMs).toISOString();
    const how = follower.client ? 'LISTEN/NOTIFY' : `a poll every ${POLL_MS / 1000} s`;
    if (options.gap) options.log.warn({ until }, `following leaves a gap: ${options.gap}`);
    options.log.info(
      { until, channel: options.source.channel, listening: !!follower.client },
      `following until ${until}, woken by ${how}`,
    );
    return follower;
  }

  /**
   * After a round that covered everything due at `covered`: resolves true when the next round
   * should run (work is due, a notification came, or a poll is due), false when the run ends
   * (its window is over, or a signal came).
   */
  async wait(covered: Date): Promise<boolean> {
    const { signal, windowEndMs, clock } = this.options;
    if (signal?.aborted || Date.now() >= windowEndMs) return false;
    if (this.takeNotification()) return true;
    const next = await this.options.source.nextDue(this.options.db, covered);
    const untilDue = next ? next.getTime() - clock().getTime() : Infinity;
    if (untilDue <= 0) return true;
    const poll = this.client ? SAFETY_POLL_MS : POLL_MS;
    const sleepMs = Math.min(untilDue, windowEndMs - Date.now(), poll);
    this.options.log.debug({ nextDue: next, sleepMs }, 'waiting for work');
    await this.sleep(sleepMs);
    if (signal?.aborted) {
      this.interruptedWhileWaiting = true;
      return false;
    }
    this.takeNotification();
    return Date.now() < windowEndMs;
  }

  async close(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    await client?.end().catch(() => undefined);
  }

  private takeNotification(): boolean {
    const was = this.notified;
    this.notified = false;
    return was;
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.options.signal?.removeEventListener('abort', done);
        this.wake = undefined;
        resolve();
      };
      const timer = setTimeout(done, Math.max(0, ms));
      this.options.signal?.addEventListener('abort', done, { once: true });
      this.wake = done;
      // A notification or a signal that came while the next due instant was being read.
      if (this.notified || this.options.signal?.aborted) done();
    });
  }

  private onNotification = () => {
    this.notified = true;
    this.wake?.();
  };

  /**
   * A dedicated connection (not the pool's: LISTEN is session state) that LISTENs on the job's
   * channel, then proves it receives: it NOTIFYs a channel of its own and waits for the echo. A
   * pooler in transaction mode (PgBouncer) hands the session's notifications to nobody, so the
   * echo does not come back and the run polls instead.
   */
  private async listen(): Promise<void> {
    const { db, log, source } = this.options;
    const settings = db.client.connectionSettings as pg.ClientConfig;
    const client = new pg.Client({ ...settings, application_name: `${settings.application_name ?? 'planner-jobs'}:listen` });
    const probe = `planner_jobs_probe_${randomBytes(6).toString('hex')}`;
    // Lost later (the server restarted, the backend was terminated): say so once and poll.
    const lost = (err?: Error) => {
      if (this.client !== client) return; // failed while connecting (the catch below says it), or closed by us
      log.warn({ err }, `the LISTEN connection was lost; polling every ${POLL_MS / 1000} s instead`);
      void this.close();
      this.wake?.();
    };
    client.on('error', lost);
    client.on('end', () => lost());
    try {
      await client.connect();
      let echoed: () => void = () => undefined;
      const echo = new Promise<boolean>((resolve) => {
        echoed = () => resolve(true);
        setTimeout(() => resolve(false), PROBE_TIMEOUT_MS).unref();
      });
      client.on('notification', (message) => (message.channel === probe ? echoed() : this.onNotification()));
      await client.query(`LISTEN ${client.escapeIdentifier(source.channel)}; LISTEN ${probe}`);
      await client.query(`NOTIFY ${probe}`);
      if (!(await echo)) throw new Error('a NOTIFY on this connection never came back (a pooler in transaction mode?)');
      await client.query(`UNLISTEN ${probe}`);
      this.client = client;
    } catch (err) {
      log.warn(
        { err },
        `cannot LISTEN on the database connection (${(err as Error).message}); polling every ${POLL_MS / 1000} s instead (set PLANNER_LISTEN=false behind PgBouncer in transaction mode)`,
      );
      await client.end().catch(() => undefined);
    }
  }
}
