import { InvalidArgumentError, Option, type Command } from 'commander';
import { JOB_NAMES, type JobName } from '../core/catalog.js';
import { runJobCommand } from '../core/jobCommand.js';
import { action } from '../core/lifecycle.js';
import { positiveInt } from '../core/options.js';
import type { Job } from '../core/runner.js';
import { canonicalZone } from '../core/timezones.js';
import { DEFAULT_NOTIFICATIONS_OPTIONS } from '../jobs/notifications/policy.js';

/** One scheduled job's command: what `--help` says of it, its own options, and how to build its job. */
interface JobCommand<O> {
  description: string;
  /** Options of this job only, made afresh for each program; the global ones (`--dry-run`, `--now`, ...) are the program's. */
  options?: () => Option[];
  /**
   * Imports the job's module when this command runs, never before, so a run loads only its own
   * job's dependencies (no AWS SDK for `overdue`), and builds the job from the parsed options.
   */
  load(options: O): Promise<Job>;
}

// Any spelling or link of an IANA zone (`america/new_york`, `US/Eastern`) names its canonical
// zone, so the run selects every user whose stored name resolves to it.
const zone = (value: string) => {
  const canonical = canonicalZone(value);
  if (canonical === undefined)
    throw new InvalidArgumentError(`--tz takes an IANA time zone like America/New_York (got "${value}").`);
  return canonical;
};

const notifications = DEFAULT_NOTIFICATIONS_OPTIONS;

/**
 * Every job of the catalog (src/core/catalog.ts) as a command, keyed by its name: a job added to
 * the catalog without an entry here is a type error. (`never`: each entry's `load` names the
 * options it reads, its own; commander hands it every option parsed.)
 */
export const JOB_COMMANDS: { [job in JobName]: JobCommand<never> } = {
  recurring: {
    description: 'create the next instance of every completed recurring task not yet processed',
    load: async () => (await import('../jobs/recurring/index.js')).recurringJob,
  },
  reminders: {
    description: 'turn every due, unsent reminder into a notification and mark it sent (skipped / expired when stale)',
    load: async () => (await import('../jobs/reminders/index.js')).remindersJob,
  },
  notifications: {
    description: 'deliver pending notifications: in-app row, Web Push to every subscription, chat webhook; retries with backoff',
    options: () => [
      new Option('--concurrency <n>', 'requests in flight at once, all channels together')
        .argParser(positiveInt('--concurrency', 1000))
        .default(notifications.concurrency),
      new Option('--connections-per-origin <n>', 'open connections (and requests in flight) per push service')
        .argParser(positiveInt('--connections-per-origin', 256))
        .default(notifications.connectionsPerOrigin),
      new Option('--request-timeout <seconds>', 'deadline of one push or chat request')
        .argParser(positiveInt('--request-timeout', 300))
        .default(notifications.requestTimeoutMs / 1000),
    ],
    load: async (options: { concurrency: number; connectionsPerOrigin: number; requestTimeout: number }) =>
      (await import('../jobs/notifications/index.js')).notificationsJob({
        concurrency: options.concurrency,
        connectionsPerOrigin: options.connectionsPerOrigin,
        requestTimeoutMs: options.requestTimeout * 1000,
      }),
  },
  overdue: {
    description: 'mark open tasks past their due date as overdue (and back, when moved or completed)',
    load: async () => (await import('../jobs/overdue/index.js')).overdueJob,
  },
  rollover: {
    description: 'close the local day for users whose midnight has passed: score, streak, routine reset',
    options: () => [
      new Option('--tz <zone>', 'only users of this IANA time zone, any spelling or link of it (one CronJob per zone)').argParser(
        zone,
      ),
    ],
    load: async (options: { tz?: string }) => (await import('../jobs/rollover/index.js')).rolloverJob({ zone: options.tz }),
  },
  'cleanup-tokens': {
    description: 'clear expired password-reset tokens',
    load: async () => (await import('../jobs/cleanup-tokens/index.js')).cleanupTokensJob,
  },
  exports: {
    description: 'work through pending export requests: stream each user’s data to storage, store a download link',
    load: async () => (await import('../jobs/exports/index.js')).exportsJob,
  },
  prune: {
    description: 'delete job_runs and sent notifications older than RETENTION_DAYS (default 90)',
    load: async () => (await import('../jobs/prune/index.js')).pruneJob,
  },
};

/** The job `name` built with its options' defaults, as its stock schedule runs it (the demo runs every job so). */
export async function jobWithDefaults(name: JobName): Promise<Job> {
  const { options, load } = JOB_COMMANDS[name] as JobCommand<object>;
  return load(Object.fromEntries((options?.() ?? []).map((option) => [option.attributeName(), option.defaultValue])));
}

/** Adds one command per job, in the catalog's order: its options, then the job command's lifecycle (runJobCommand). */
export function registerJobCommands(program: Command): void {
  for (const name of JOB_NAMES) {
    const { description, options, load } = JOB_COMMANDS[name] as JobCommand<object>;
    const command = program.command(name).description(description);
    for (const option of options?.() ?? []) command.addOption(option);
    command.action(action(async (invocation, parsed) => runJobCommand(invocation, await load(parsed), parsed)));
  }
}
