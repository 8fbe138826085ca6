import type { Command } from 'commander';
import { JOBS, JOB_NAMES, jobEnvName } from '../core/catalog.js';
import { action } from '../core/lifecycle.js';
import type { Config } from '../core/config.js';
import { ExitCode } from '../core/errors.js';
import { lineSafe } from '../core/options.js';
import { jobSchedules } from '../core/schedule.js';

export interface CrontabOptions {
  /** The environment file every line loads (DATABASE_URL, VAPID_*, ...). */
  environmentFile: string;
  /** Append each job's output to `<dir>/<job>.log` instead of sending it to syslog. */
  logDir?: string;
  bin: string;
}

const DEFAULTS: CrontabOptions = { environmentFile: '/etc/planner-jobs/env', bin: 'planner-jobs' };

// cron hands each line to /bin/sh; anything beyond a plain path is single-quoted.
const sh = (word: string) => (/^[\w@+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`);

const HEADER = `# planner-jobs: one line per job, written by \`planner-jobs crontab\` from JOB_<NAME>_SCHEDULE and
# JOB_<NAME>_ENABLED. Install as the service user, with the same environment the jobs get:
#   (set -a; . /etc/planner-jobs/env; planner-jobs crontab) | crontab -
#
# Each line loads the environment file (exported with set -a), runs one job and sends its
# summary (stdout) and JSON log lines (stderr) on. Schedules are read in this host's time zone.
#
# Overlapping runs need no flock: a job that must run alone takes a PostgreSQL advisory lock per
# batch and a second run exits 0 as "skipped"; the queue jobs claim rows with FOR UPDATE SKIP
# LOCKED, so overlapping runs share the work; and every run's time budget (--max-runtime) ends
# it (the PLANNER_FOLLOW=true lines overlap their next run by design). The locks live in the
# database, so they also hold across hosts, which a local flock cannot. Add
# \`flock -n /run/lock/planner-jobs-<job>.lock\` only to save a process start (never to a
# PLANNER_FOLLOW=true line).
#
# PLANNER_FOLLOW=true: reminders and notifications keep working until their next tick plus 15 s,
# each due reminder handled the second it is due; the next minute's run takes over meanwhile.
SHELL=/bin/sh
PATH=/usr/local/bin:/usr/bin:/bin
`;

/** The crontab for every job of the catalog; a malformed schedule is exit 78 naming its variable. */
export function renderCrontab(config: Config, options: CrontabOptions = DEFAULTS): string {
  const schedules = jobSchedules(config);
  const lines = JOB_NAMES.map((job) => {
    if (!config.jobs[job].enabled) return `# ${job}: turned off (JOB_${jobEnvName(job)}_ENABLED=false)`;
    const output = options.logDir
      ? `>> ${sh(`${options.logDir.replace(/\/+$/, '')}/${job}.log`)} 2>&1`
      : `2>&1 | logger -t planner-jobs/${job}`;
    const follow = JOBS[job].follows ? 'PLANNER_FOLLOW=true ' : '';
    const command = `set -a; . ${sh(options.environmentFile)}; set +a; ${follow}${sh(options.bin)} ${job} ${output}`;
    // An unescaped % ends a crontab command (the rest becomes its stdin).
    return `${schedules[job].expression} ${command.replace(/%/g, '\\%')}`;
  });
  return `${HEADER}\n${lines.join('\n')}\n`;
}

export const registerCrontab = (program: Command) =>
  program
    .command('crontab')
    .description('print crontab lines for every enabled job from the schedule variables')
    // Not --env-file: Node 20 reads that flag anywhere on its command line, and `npx planner-jobs`
    // runs npm's own node with our arguments, so Node would take it (exit 9).
    .option(
      '--environment-file <path>',
      'environment file each line loads',
      lineSafe('--environment-file'),
      DEFAULTS.environmentFile,
    )
    .option('--log-dir <dir>', "append each job's output to <dir>/<job>.log (default: syslog via logger)", lineSafe('--log-dir'))
    .option('--bin <path>', 'the planner-jobs executable', lineSafe('--bin'), DEFAULTS.bin)
    .action(
      action<CrontabOptions>(async (invocation, options) => {
        invocation.io.stdout.write(renderCrontab(invocation.config, options));
        return ExitCode.ok;
      }),
    );
