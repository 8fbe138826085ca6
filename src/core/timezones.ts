import type { Knex } from 'knex';
import { IANAZone } from 'luxon';
import { query } from './sql.js';

/** True for an IANA zone name this Node (ICU) knows, e.g. `America/New_York`; false for `Mars/Olympus`. */
export const isValidZone = (name: string): boolean => IANAZone.isValidZone(name);

/**
 * The zone names PostgreSQL knows, as a set-returning SQL fragment. Set-based statements use it
 * (`timezone IN (${KNOWN_ZONES_SQL})`) to set aside users whose stored zone is unknown, instead
 * of letting one bad row make `AT TIME ZONE` fail the whole batch.
 */
export const KNOWN_ZONES_SQL = 'SELECT name FROM pg_timezone_names';

/**
 * The zone names this PostgreSQL knows, read once per run: listing them costs a scan of the
 * zone database (~15 ms), too much to repeat in every batch.
 */
export async function knownZones(db: Knex | Knex.Transaction): Promise<string[]> {
  const [{ zones }] = await query<{ zones: string[] }>(db, `SELECT array_agg(name) AS zones FROM (${KNOWN_ZONES_SQL}) known`);
  return zones;
}
