import { CronExpressionParser } from 'cron-parser';
import { jobEnvName, type JobName } from './catalog.js';
import type { Config } from './config.js';
import { configError } from './errors.js';

// The macros cron and Kubernetes both understand; @reboot is not a schedule.
const MACROS = ['@yearly', '@annually', '@monthly', '@weekly', '@daily', '@midnight', '@hourly'];
// The longest gap is measured over the fires that follow a fixed instant (a Wednesday, so a
// weekdays-only schedule meets its weekend early): 500 of them, or a year's, whichever ends first.
const REFERENCE = new Date('2025-01-01T00:00:00Z');
const MAX_FIRES = 500;
const YEAR_MS = 366 * 24 * 3600 * 1000;

export interface Schedule {
  expression: string;
  /** The longest gap between two consecutive fires, in seconds: a "period" also for irregular schedules. */
  periodSeconds: number;
}

/**
 * Validates one cron expression the way cron and Kubernetes read it: five fields (no seconds
 * field) or a macro, each field in range. Throws a plain Error with the parser's reason.
 */
export function parseCron(expression: string): Schedule {
  const fields = expression.trim().split(/\s+/);
  const isMacro = fields.length === 1 && MACROS.includes(fields[0].toLowerCase());
  if (!isMacro && fields.length !== 5) throw new Error(`expected 5 fields (minute hour day month weekday), got ${fields.length}`);
  // In the process's zone, as cron reads a crontab (Kubernetes pins Etc/UTC); only DST shifts a gap.
  const fires = CronExpressionParser.parse(expression, { currentDate: REFERENCE });
  let previous = fires.next().toDate().getTime();
  let periodMs = 0;
  for (let i = 0; i < MAX_FIRES && previous - REFERENCE.getTime() < YEAR_MS; i++) {
    const next = fires.next().toDate().getTime();
    periodMs = Math.max(periodMs, next - previous);
    previous = next;
  }
  return { expression: expression.trim(), periodSeconds: periodMs / 1000 };
}

/**
 * The schedule of every job, validated; a malformed `JOB_<NAME>_SCHEDULE` is exit 78 naming it.
 * Only the commands that read schedules (`crontab`, `status`) call this, so a typo in one
 * schedule never stops the jobs themselves from running.
 */
export function jobSchedules(config: Config): Record<JobName, Schedule> {
  const problems: string[] = [];
  const schedules = Object.fromEntries(
    Object.entries(config.jobs).map(([job, settings]) => {
      try {
        return [job, parseCron(settings.schedule)];
      } catch (err) {
        const variable = `JOB_${jobEnvName(job as JobName)}_SCHEDULE`;
        problems.push(`${variable} is not a valid cron expression ("${settings.schedule}": ${(err as Error).message})`);
        return [job, undefined];
      }
    }),
  ) as Record<JobName, Schedule>;
  if (problems.length > 0) throw configError(`bad configuration: ${problems.join('; ')}`);
  return schedules;
}
