import type { Knex } from 'knex';
import { usageError } from '../../core/errors.js';
import { Sql, query, sql } from '../../core/sql.js';
import type { ZoneResolution } from '../../core/timezones.js';

/**
 * The one definition of a user's local calendar, in SQL (PostgreSQL's tz database), shared by
 * every statement of the job.
 *
 * Days are compared by local date, never by a computed "midnight": the local date of an instant
 * always exists and is unique, whereas midnight may be missing (America/Santiago 2024-09-08) or
 * happen twice (America/Havana 2025-11-02), and a whole day may be missing (Pacific/Apia
 * 2011-12-30).
 */

// The helpers' string arguments are SQL text from the code (aliases, columns); values come as fragments.

/** The local date of a timestamptz expression in a zone expression. */
export const localDate = (instant: Sql, zone: string): Sql => sql`(${instant} AT TIME ZONE ${Sql.text(zone)})::date`;

/**
 * Whether a task (or routine task) counted as done when local day `day` ended: completed, at a
 * local date on or before `day`. A row the API marked completed without a time counts as done.
 */
export const completedBy = (row: string, day: string, zone: string): Sql =>
  sql`(${Sql.text(row)}.completed AND (${Sql.text(row)}.completed_at IS NULL OR ${localDate(Sql.text(`${row}.completed_at`), zone)} <= ${Sql.text(day)}))`;

/**
 * Whether local date `day` existed in the zone. A day skipped whole by a date-line move has no
 * instant: its midnight, read as local time, lands on a later date.
 */
export const dayExisted = (day: string, zone: string): Sql =>
  sql`${localDate(Sql.text(`${day}::timestamp AT TIME ZONE ${zone}`), zone)} = ${Sql.text(day)}`;

/**
 * A user is due when local yesterday is after their last closed day (or they never had one).
 * `today` is the user's local date at the run's now. Written to match `users_rollover_due_idx`.
 */
export const isDue = (user: string, today: Sql): Sql =>
  sql`coalesce(${Sql.text(user)}.last_rollover_date, '-infinity'::date) < ${today} - 1`;

/** The zones the users of this run live in, each with its local date at the run's now. */
export interface ZoneDays {
  /** Stored zone names (as the users' rows spell them), in parallel with `resolved` and `todays`. */
  zones: string[];
  /** The zone each stored name resolves to (`resolveZones`): what every wall-clock expression uses. */
  resolved: string[];
  /** The local date (`YYYY-MM-DD`) in that zone at the run's now. */
  todays: string[];
  /** Stored names that resolve to no zone: their users cannot be rolled over. */
  unknown: string[];
}

/**
 * Reads once per run which zone names are in use and what date it is in each at `now`, through
 * the one resolution of zone names. With `onlyZone` (`--tz`, already canonical), only the names
 * that resolve to that zone: every spelling and link of it (`america/new_york`, `US/Eastern`).
 * Batches then join users to this small table instead of converting every user's now.
 * Throws a usage error (exit 64) when this PostgreSQL has no zone for `onlyZone`.
 */
export async function zoneDays(
  db: Knex | Knex.Transaction,
  now: Date,
  resolution: ZoneResolution,
  onlyZone?: string,
): Promise<ZoneDays> {
  const only = onlyZone === undefined ? undefined : resolution.zoneOf(onlyZone);
  if (onlyZone !== undefined && only === undefined) {
    throw usageError(`--tz ${onlyZone}: this PostgreSQL's time zone database has no such zone (see pg_timezone_names).`);
  }
  const used = await query<{ zone: string }>(
    db,
    '/* planner-jobs:rollover.zonesInUse */ SELECT DISTINCT timezone AS zone FROM users ORDER BY zone',
  );
  const known = used.map(({ zone }) => ({ zone, resolved: resolution.zoneOf(zone) }));
  const selected = known.filter((row) => row.resolved !== undefined && (only === undefined || row.resolved === only));
  const todays = await query<{ today: string }>(
    db,
    sql`/* planner-jobs:rollover.zoneToday */
        SELECT ${localDate(sql`${now}::timestamptz`, 'zone')}::text AS today
          FROM unnest(${selected.map((row) => row.resolved)}::text[]) WITH ORDINALITY AS z (zone, i) ORDER BY i`,
  );
  return {
    zones: selected.map((row) => row.zone),
    resolved: selected.map((row) => row.resolved!),
    todays: todays.map((row) => row.today),
    unknown: only === undefined ? known.filter((row) => row.resolved === undefined).map((row) => row.zone) : [],
  };
}
