import { DateTime } from 'luxon';
import { usageError } from './errors.js';

/**
 * Every job reads "now" from the run (`ctx.now`: `--now`, else the clock at the start), never from
 * `new Date()`, so that replays and tests control it. The instant is fixed for the whole run:
 * batches of one round of a run agree on what is due. Leases and a following run's later rounds,
 * which outlive a moment, read the run's clock (`ctx.clock()`, {@link runClock}).
 */

/** A reading of a clock: the instant it says it is now. */
export type Clock = () => Date;

/** The run's clock: the run's first now plus the real time elapsed since, so a replayed `--now` still moves at the real pace. */
export function runClock(runNow: Date): Clock {
  const started = performance.now();
  return () => new Date(runNow.getTime() + (performance.now() - started));
}

// The offset a `--now` names: Z, or ±hh[:mm]. Real offsets lie within ±14:00 (Pacific/Kiritimati).
const OFFSET = /(?:Z|([+-])(\d{2})(?::?(\d{2}))?)$/i;
const MAX_OFFSET_MINUTES = 14 * 60;

/**
 * Parses `--now`: an ISO 8601 instant that names its offset (`Z` or `±hh:mm`, at most ±14:00), so a
 * replay means one moment everywhere, in the years 0001 to 9999 both as written and in UTC (ISO
 * 8601's four-digit years, the calendar PostgreSQL's timestamptz and the jobs' dates handle; no
 * expanded `±YYYYYY` form). Anything else is bad usage: throws ExitError 64 (commander quotes the value).
 */
export function parseNow(value: string): Date {
  const text = value.trim();
  const offset = OFFSET.exec(text);
  const parsed = DateTime.fromISO(text, { setZone: true });
  const offsetMinutes = offset?.[1] ? Number(offset[2]) * 60 + Number(offset[3] ?? 0) : 0;
  const utcYear = parsed.isValid ? parsed.toUTC().year : 0;
  if (
    !parsed.isValid ||
    !offset ||
    offsetMinutes > MAX_OFFSET_MINUTES ||
    Number(offset[3] ?? 0) > 59 ||
    !/^\d{4}/.test(text) ||
    utcYear < 1 ||
    utcYear > 9999
  ) {
    throw usageError(
      `--now expects an ISO 8601 instant with an offset (Z, or ±hh:mm up to ±14:00) in the years 0001 to 9999, like 2025-03-08T05:30:00Z`,
    );
  }
  return parsed.toJSDate();
}
