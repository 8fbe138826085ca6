import type { Knex } from 'knex';
import { KNOWN_ZONES_SQL } from '../../core/timezones.js';
import { query } from '../../core/sql.js';

/**
 * The one definition of a user's local calendar, in SQL (PostgreSQL's tz database), shared by
 * every statement of the job.
 *
 * Days are compared by local date, never by a computed "midnight": the local date of an instant
 * always exists and is unique, whereas midnight may be missing (America/Santiago 2024-09-08) or
 * happen twice (America/Havana 2025-11-02), and a whole day may be missing (Pacific/Apia
 * 2011-12-30).
 */

/** The local date of a timestamptz expression in a zone expression. */
export const localDate = (instant: string, zone: string) => `(${instant} AT TIME ZONE ${zone})::date`;

/**
 * Whether a task (or routine task) counted as done when local day `day` ended: completed, at a
 * local date on or before `day`. A row the API marked completed without a time counts as done.
 */
export const completedBy = (row: string, day: string, zone: string) =>
  `(${row}.completed AND (${row}.completed_at IS NULL OR ${localDate(`${row}.completed_at`, zone)} <= ${day}))`;

/**
 * Whether local date `day` existed in the zone. A day skipped whole by a date-line move has no
 * instant: its midnight, read as local time, lands on a later date.
 */
export const dayExisted = (day: string, zone: string) => `${localDate(`${day}::timestamp AT TIME ZONE ${zone}`, zone)} = ${day}`;

/**
 * A user is due when local yesterday is after their last closed day (or they never had one).
 * `today` is the user's local date at the run's now. Written to match `users_rollover_due_idx`.
 */
export const isDue = (user: string, today: string) => `coalesce(${user}.last_rollover_date, '-infinity'::date) < ${today} - 1`;

/** The zones the users of this run live in, each with its local date at the run's now. */
export interface ZoneDays {
  /** Zones PostgreSQL knows, in parallel with `todays` (`YYYY-MM-DD`). */
  zones: string[];
  todays: string[];
  /** Stored zones PostgreSQL does not know: their users cannot be rolled over. */
  unknown: string[];
}

/**
 * Reads once per run which zones are in use (all, or only `onlyZone`) and what date it is in each
 * at `now`. Batches then join users to this small table instead of converting every user's now.
 */
export async function zoneDays(db: Knex | Knex.Transaction, now: Date, onlyZone: string | undefined): Promise<ZoneDays> {
  const rows = await query<{ zone: string; today: string | null }>(
    db,
    `SELECT used.zone,
            CASE WHEN used.zone IN (${KNOWN_ZONES_SQL}) THEN ${localDate(':now::timestamptz', 'used.zone')}::text END AS today
       FROM (SELECT DISTINCT timezone AS zone FROM users WHERE :onlyZone::text IS NULL OR timezone = :onlyZone) AS used
      ORDER BY used.zone`,
    { now, onlyZone: onlyZone ?? null },
  );
  const known = rows.filter((row) => row.today !== null);
  return {
    zones: known.map((row) => row.zone),
    todays: known.map((row) => row.today!),
    unknown: rows.filter((row) => row.today === null).map((row) => row.zone),
  };
}
