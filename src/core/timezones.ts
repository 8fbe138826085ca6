import { createRequire } from 'node:module';
import type { Knex } from 'knex';
import type { Logger } from './logger.js';
import { query, sql, type Sql } from './sql.js';

/**
 * One resolution of a time zone name, used by every job and by `rollover --tz`.
 *
 * PostgreSQL reads the zone of `AT TIME ZONE 'X'` as a time zone ABBREVIATION first (a fixed
 * offset from `timezone_abbreviations`, and from PostgreSQL 18 also the session zone's own
 * abbreviations), and only then as a zone of its tz database: `CET`, `EET`, `MET`, `WET` are
 * IANA zones with daylight-saving time, yet `AT TIME ZONE 'CET'` is always +01; under
 * `timezone_abbreviations = Australia`, `EST` is +10. So a stored name never reaches wall-clock
 * arithmetic as written: it is mapped, case-insensitively, to its canonical IANA zone (links
 * followed as tzdata's `backward` file and the 2024b merges define them: `CET` → Europe/Brussels,
 * `US/Eastern` → America/New_York, `Asia/Calcutta` → Asia/Kolkata), spelled as this PostgreSQL
 * knows it. Every canonical IANA zone but `Factory` and the POSIX-style `EST5EDT` family has a
 * `/`, which no abbreviation table ships; the name chosen is still checked against the session's
 * abbreviations (`pg_timezone_abbrevs`), so that no setting can capture it.
 */

/** The `tzdata` package: the IANA time zone database as JSON; a link's value is its target's name. */
interface TzdataJson {
  zones: Record<string, unknown>;
}

let ianaCache: Map<string, string> | undefined;

/**
 * Every IANA name (zone or link), lower-cased, with its canonical zone, from the `tzdata`
 * package (tzdata's own files: zones from the regional files, links from `backward`).
 * Read once per process (~200 kB of JSON).
 */
function ianaZones(): ReadonlyMap<string, string> {
  if (!ianaCache) {
    const data = createRequire(import.meta.url)('tzdata') as TzdataJson;
    const canonical = new Map<string, string>();
    for (const name of Object.keys(data.zones)) {
      let target = name;
      // A link names a zone; follow chains too, should a release ever add one.
      for (let hops = 0; typeof data.zones[target] === 'string' && hops < 8; hops += 1) target = data.zones[target] as string;
      canonical.set(name.toLowerCase(), target);
    }
    ianaCache = canonical;
  }
  return ianaCache;
}

/**
 * The canonical IANA zone of a name, any case, any link (`us/eastern` → `America/New_York`);
 * undefined when the IANA database has no such name (`Mars/Olympus`). Standard: IANA tz
 * database, `backward` links (RFC 6557 describes its maintenance).
 */
export const canonicalZone = (name: string): string | undefined => ianaZones().get(name.toLowerCase());

/** How this PostgreSQL session reads zone names, and the zone to compute with for each stored name. */
export interface ZoneResolution {
  /** Lower-cased names, in parallel with `zones`: SQL joins `lower(users.timezone)` to them. */
  names: string[];
  /** The zone each of `names` resolves to, as this server spells it, never an abbreviation. */
  zones: string[];
  /** The zone to compute with for a stored name (any case); undefined when it has none. */
  zoneOf(stored: string): string | undefined;
  /** Names PostgreSQL knows but would read as an abbreviation under the session's settings, so unusable. */
  captured: string[];
}

/**
 * Resolves every name this server or the IANA database knows, once per run (one query:
 * `pg_timezone_names`, `pg_timezone_abbrevs`), as `resolveZoneNames` does. Throws only what the
 * query throws.
 */
export async function resolveZones(db: Knex | Knex.Transaction, log?: Logger): Promise<ZoneResolution> {
  const [server] = await query<{ names: string[]; abbrevs: string[] | null; setting: string }>(
    db,
    `/* planner-jobs:runner.timeZones */ SELECT (SELECT array_agg(name ORDER BY name) FROM pg_timezone_names) AS names,
            (SELECT array_agg(abbrev) FROM pg_timezone_abbrevs) AS abbrevs,
            current_setting('timezone_abbreviations') AS setting`,
  );
  const resolution = resolveZoneNames(server.names, server.abbrevs ?? []);
  if (resolution.captured.length > 0) {
    log?.warn(
      { captured: resolution.captured, timezoneAbbreviations: server.setting },
      `time zones ${resolution.captured.join(', ')} cannot be used: PostgreSQL reads them as abbreviations under timezone_abbreviations=${server.setting}; their users fail as unknown`,
    );
  }
  return resolution;
}

/**
 * The resolution, from the zone names a server knows and the abbreviations its session reads
 * first. A name maps to its canonical IANA zone when the server knows that zone (or another
 * name of it), else to itself when the server knows it (`posix/Europe/Paris`, or a zone newer
 * than the `tzdata` package); in both cases only to a spelling that no abbreviation captures
 * (PostgreSQL matches abbreviations lower-cased on their first 10 characters, `TOKMAXLEN`, in
 * `DecodeTimezoneAbbrev`). Names with no such spelling are left out and listed in `captured`:
 * their users fail alone, as for an unknown zone.
 */
export function resolveZoneNames(serverNames: readonly string[], abbreviations: readonly string[]): ZoneResolution {
  const abbreviated = new Set(abbreviations.map((abbrev) => abbrev.toLowerCase()));
  const isCaptured = (zone: string) => abbreviated.has(zone.toLowerCase().slice(0, 10));
  const canonical = ianaZones();
  const serverSpelling = new Map(serverNames.map((name) => [name.toLowerCase(), name]));

  // The server's spelling for each canonical zone: the zone itself, or else any name of it the
  // server knows (an older server may only know `Europe/Kiev` for Europe/Kyiv).
  const representative = new Map<string, string>();
  for (const [key, name] of serverSpelling) {
    const zone = canonical.get(key);
    if (zone === undefined || isCaptured(name)) continue;
    const current = representative.get(zone);
    if (current === undefined || name === zone || (current !== zone && name < current)) representative.set(zone, name);
  }

  const resolved = new Map<string, string>();
  const captured: string[] = [];
  for (const key of new Set([...serverSpelling.keys(), ...canonical.keys()])) {
    const own = serverSpelling.get(key);
    const zone = representative.get(canonical.get(key) ?? '') ?? (own !== undefined && !isCaptured(own) ? own : undefined);
    if (zone !== undefined) resolved.set(key, zone);
    else if (own !== undefined) captured.push(own);
  }
  return {
    names: [...resolved.keys()],
    zones: [...resolved.values()],
    zoneOf: (stored) => resolved.get(stored.toLowerCase()),
    captured,
  };
}

/**
 * The resolution as a SQL table `zone_map (name, zone)`, a fragment carrying its own values, for
 * `LEFT JOIN ${zoneMapTable(resolution)} ON zone_map.name = lower(users.timezone)`. A small hash
 * join per batch, not a function call per row.
 */
export const zoneMapTable = (resolution: ZoneResolution): Sql =>
  sql`unnest(${resolution.names}::text[], ${resolution.zones}::text[]) AS zone_map (name, zone)`;
