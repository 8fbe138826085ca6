import { CronExpressionParser } from 'cron-parser';
import { jobEnvName, type JobName } from './catalog.js';
import type { Config } from './config.js';
import { configError } from './errors.js';

// The macros Debian's cron and Kubernetes (robfig/cron) both read, spelled as both compare them
// (lower case, exactly), with the fields they stand for. @reboot is not a schedule; @every is
// Kubernetes' alone.
const MACROS = new Map(
  Object.entries({
    '@yearly': '0 0 1 1 *',
    '@annually': '0 0 1 1 *',
    '@monthly': '0 0 1 * *',
    '@weekly': '0 0 * * 0',
    '@daily': '0 0 * * *',
    '@midnight': '0 0 * * *',
    '@hourly': '0 * * * *',
  }),
);
const MONTHS = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'];
const WEEKDAYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'];
// The longest gap is measured over the fires that follow a fixed instant (a Wednesday, so a
// weekdays-only schedule meets its weekend early): 500 of them, or a year's, whichever ends first.
const REFERENCE = new Date('2025-01-01T00:00:00Z');
const MAX_FIRES = 500;
const YEAR_MS = 366 * 24 * 3600 * 1000;

interface Field {
  name: string;
  min: number;
  max: number;
  /** Three-letter names (case-insensitive), the first meaning `min`. */
  names?: string[];
}

// Bounds both accept: Debian's cron also reads 7 as Sunday, robfig/cron does not (day of week 0-6).
const FIELDS: Field[] = [
  { name: 'minute', min: 0, max: 59 },
  { name: 'hour', min: 0, max: 23 },
  { name: 'day of month', min: 1, max: 31 },
  { name: 'month', min: 1, max: 12, names: MONTHS },
  { name: 'day of week', min: 0, max: 6, names: WEEKDAYS },
];

// One item of a list: `*`, `N` or `N-M`, the `*` and `N-M` forms with an optional `/step`.
const ITEM = /^(?:(\*)|([0-9]+|[a-z]{3})(?:-([0-9]+|[a-z]{3}))?)(?:\/([0-9]+))?$/i;

/** The value of one number or name of `field`, or a thrown reason. */
function valueOf(token: string, field: Field): number {
  const named = field.names?.indexOf(token.toLowerCase()) ?? -1;
  const value = /^[0-9]+$/.test(token) ? Number(token) : named === -1 ? undefined : named + field.min;
  if (value === undefined) {
    const names = field.names ? `, or ${field.names[0]}-${field.names.at(-1)}` : '';
    throw new Error(`"${token}" is not a ${field.name} (${field.min}-${field.max}${names})`);
  }
  if (value < field.min || value > field.max) throw new Error(`${field.name} ${token} is outside ${field.min}-${field.max}`);
  return value;
}

/**
 * Checks one field against the grammar Debian's cron (crontab(5)) and Kubernetes' CronJob parser
 * (robfig/cron v3, ParseStandard) both read, and read alike: lists of `*`, `N`, `N-M`, `*\/S`
 * and `N-M/S`, with names for months and weekdays. Refused: what either refuses or reads
 * differently: `L`, `W`, `#`, `?`, `N/S` (cron: N alone; Kubernetes: N-max/S), weekday 7, `M-N`
 * with M > N, empty list items, signs.
 */
function checkField(text: string, field: Field): void {
  for (const item of text.split(',')) {
    const match = ITEM.exec(item);
    if (!match)
      throw new Error(`"${item}" is not a ${field.name}: use numbers, ranges (N-M), steps (*/S, N-M/S) and lists (A,B)`);
    const [, star, from, to, step] = match;
    if (step !== undefined && Number(step) < 1) throw new Error(`step "/${step}" must be 1 or more`);
    if (star) continue;
    if (step !== undefined && to === undefined) {
      throw new Error(
        `"${item}": write ${from}-${field.max}/${step} (cron reads ${from}/${step} as ${from} alone, Kubernetes as ${from}-${field.max}/${step})`,
      );
    }
    const start = valueOf(from, field);
    if (to !== undefined && start > valueOf(to, field)) throw new Error(`range "${from}-${to}" runs backwards`);
  }
}

export interface Schedule {
  expression: string;
  /** The longest gap between two consecutive fires, in seconds: a "period" also for irregular schedules. */
  periodSeconds: number;
}

/**
 * The fires of `expression` from `from` on, once it is validated as both Debian's cron
 * (crontab(5)) and the Kubernetes CronJob schedule (robfig/cron ParseStandard) accept it: a
 * lower-case macro, or five fields (no seconds) of the common grammar (checkField). In the
 * process's zone, as cron reads a crontab (Kubernetes pins Etc/UTC). Throws a plain Error with the reason.
 */
function firesFrom(expression: string, from: Date) {
  const fields = expression.trim().split(/[ \t]+/);
  const macro = fields.length === 1 ? MACROS.get(fields[0]) : undefined;
  if (!macro) {
    if (fields[0].startsWith('@')) {
      throw new Error(
        `"${fields.join(' ')}" is not one of the macros cron and Kubernetes both read (${[...MACROS.keys()].join(', ')})`,
      );
    }
    if (fields.length !== 5) throw new Error(`expected 5 fields (minute hour day month weekday), got ${fields.length}`);
    fields.forEach((field, index) => checkField(field, FIELDS[index]));
  }
  return CronExpressionParser.parse(macro ?? expression, { currentDate: from });
}

/**
 * Validates one cron expression (see firesFrom) that fires at least once (cron-parser computes the
 * fires). Throws a plain Error with the reason. periodSeconds: see Schedule; only DST shifts a gap.
 */
export function parseCron(expression: string): Schedule {
  const fires = firesFrom(expression, REFERENCE);
  let previous = fires.next().toDate().getTime();
  let periodMs = 0;
  for (let i = 0; i < MAX_FIRES && previous - REFERENCE.getTime() < YEAR_MS; i++) {
    const next = fires.next().toDate().getTime();
    periodMs = Math.max(periodMs, next - previous);
    previous = next;
  }
  return { expression: expression.trim(), periodSeconds: periodMs / 1000 };
}

/** The first fire of `expression` strictly after `after`, validated as parseCron validates; throws a plain Error. */
export const nextFire = (expression: string, after: Date): Date => firesFrom(expression, after).next().toDate();

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
        problems.push(
          `${variable} is not a valid cron expression (${JSON.stringify(settings.schedule)}: ${(err as Error).message})`,
        );
        return [job, undefined];
      }
    }),
  ) as Record<JobName, Schedule>;
  if (problems.length > 0) throw configError(`bad configuration: ${problems.join('; ')}`);
  return schedules;
}
