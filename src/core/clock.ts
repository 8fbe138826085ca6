import { DateTime } from 'luxon';
import { usageError } from './errors.js';

/**
 * Every job reads "now" from the run (`ctx.now`: `--now`, else the clock at the start), never from
 * `new Date()`, so that replays and tests control it. The instant is fixed for the whole run:
 * batches of one run agree on what is due.
 */

/**
 * For work that outlives a moment (a long export renewing its lease): the run's now plus the time
 * elapsed since, so a replayed `--now` still moves forward at the real pace.
 */
export function elapsedClock(from: Date): () => Date {
  const started = performance.now();
  return () => new Date(from.getTime() + (performance.now() - started));
}

/** Parses `--now`: an ISO 8601 instant that names its offset (`Z` or `+hh:mm`), so a replay means one moment everywhere. */
export function parseNow(value: string): Date {
  const parsed = DateTime.fromISO(value, { setZone: true });
  const hasOffset = /(?:Z|[+-]\d{2}(?::?\d{2})?)$/i.test(value.trim());
  if (!parsed.isValid || !hasOffset) {
    throw usageError(`--now expects an ISO 8601 instant with an offset, like 2025-03-08T05:30:00Z (got "${value}")`);
  }
  return parsed.toJSDate();
}
