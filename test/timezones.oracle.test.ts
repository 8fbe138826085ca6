import { randomUUID } from 'node:crypto';
import type { Knex } from 'knex';
import { beforeAll, describe, expect } from 'vitest';
import { cli } from './support/cli.js';
import { createTestDatabase, test, type TestDatabase } from './support/db.js';

/**
 * Every zone name PostgreSQL knows, through the real jobs, against an independent oracle: Node's
 * Intl (ICU and its own copy of the IANA data), which shares no code with PostgreSQL, the
 * `tzdata` package or the jobs. For each zone's transition days in 2024-2026: the next daily,
 * weekly, monthly (from the 29th-31st where the day is one) and yearly instance at the tricky
 * local times (inside the gap or the overlap, 00:00, 23:30), yearly from Feb 29 and monthly from
 * Jan 31 in every zone, and both ends of each transition day as rollover closes it. Once per
 * `timezone_abbreviations` set that PostgreSQL ships with a meaning for zone-like names.
 */

const DAY = 86_400_000;

// ---- The oracle: wall clocks and offsets from Intl only -------------------------------------

const formats = new Map<string, Intl.DateTimeFormat>();
const format = (zone: string) => {
  let f = formats.get(zone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone: zone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
    formats.set(zone, f);
  }
  return f;
};

const WALL = /^(\d+)\/(\d+)\/(\d+), (\d+):(\d+):(\d+)$/;

/** The wall clock at instant `t` in `zone`, as milliseconds of a UTC-based "local" timeline. */
function wall(zone: string, t: number): number {
  const [, month, day, year, hour, minute, second] = WALL.exec(format(zone).format(t))!.map(Number);
  return Date.UTC(year, month - 1, day, hour, minute, second) + (((t % 1000) + 1000) % 1000);
}
const offset = (zone: string, t: number) => wall(zone, t) - t;
const dateOf = (local: number) => new Date(local).toISOString().slice(0, 10);
const localDate = (zone: string, t: number) => dateOf(wall(zone, t));
const atLocal = (date: string, time = '00:00:00') => Date.parse(`${date}T${time}Z`);
const plusDays = (date: string, days: number) => dateOf(atLocal(date) + days * DAY);
const timestamp = (local: number) => new Date(local).toISOString().slice(0, 19).replace('T', ' ');

interface Transition {
  at: number;
  before: number;
  after: number;
}

const SCAN_FROM = Date.UTC(2023, 11, 31, 12);
const SCAN_DAYS = 1098;
const scans = new Map<string, number[]>();
/** The offset at 12:00Z of every day from 2023-12-31 to 2027-01-02 (ms). */
function dailyOffsets(zone: string): number[] {
  let scan = scans.get(zone);
  if (!scan) {
    scan = Array.from({ length: SCAN_DAYS }, (_, d) => offset(zone, SCAN_FROM + d * DAY));
    scans.set(zone, scan);
  }
  return scan;
}

const transitionCache = new Map<string, Transition[]>();
/** Offset changes in 2024-2026: the daily scan, then a binary search to the second. */
function transitions(zone: string): Transition[] {
  let found = transitionCache.get(zone);
  if (found) return found;
  found = [];
  const scan = dailyOffsets(zone);
  for (let d = 1; d < SCAN_DAYS; d += 1) {
    const previous = scan[d - 1];
    if (scan[d] === previous) continue;
    let low = SCAN_FROM + (d - 1) * DAY;
    let high = low + DAY;
    while (high - low > 1000) {
      const mid = low + Math.floor((high - low) / 2000) * 1000;
      if (offset(zone, mid) === previous) low = mid;
      else high = mid;
    }
    found.push({ at: high, before: previous, after: offset(zone, high) });
  }
  transitionCache.set(zone, found);
  return found;
}

/** The instant a wall-clock time names: in a gap, moved forward by the gap; in an overlap, the first. */
function instant(zone: string, local: number): number {
  const near = [offset(zone, local - DAY), offset(zone, local + DAY)];
  const valid = near.map((o) => local - o).filter((t) => wall(zone, t) === local);
  return valid.length > 0 ? Math.min(...valid) : local - near[0];
}

/** The first instant of local date `date`: its midnight, or the transition that jumps over it. */
function startOfDay(zone: string, date: string): number {
  const midnight = atLocal(date);
  const candidates = [offset(zone, midnight - DAY), offset(zone, midnight + DAY)]
    .map((o) => midnight - o)
    .filter((t) => wall(zone, t) === midnight);
  for (const tr of transitions(zone)) {
    if (Math.abs(tr.at - midnight) < 2 * DAY && localDate(zone, tr.at - 1) < date && localDate(zone, tr.at) >= date)
      candidates.push(tr.at);
  }
  return Math.min(...candidates);
}

// ---- Which names are checked ----------------------------------------------------------------

interface Zone {
  name: string;
  /** The oracle's zone: ICU's canonical id for the name. */
  oracle: string;
  days: { day: string; tricky?: string }[];
  /**
   * The first name of each oracle zone gets every check; its other names (links, other cases,
   * Debian's `posix/` copies) the daily series at every tricky time and one closing: the jobs
   * see only the name, so these are what could tell its resolution apart.
   */
  full: boolean;
}

/** ICU's canonical id for a PostgreSQL zone name; Debian's `posix/` tree is a copy of the main one. */
function oracleName(name: string): string | undefined {
  for (const candidate of [name, name.replace(/^posix\//, '')]) {
    try {
      return new Intl.DateTimeFormat('en-US', { timeZone: candidate }).resolvedOptions().timeZone;
    } catch {
      // not a zone ICU knows
    }
  }
  return undefined;
}

/** Transition days with the time inside the gap or overlap; a zone without any gets 2025-03-30. */
function transitionDays(zone: string): { day: string; tricky?: string }[] {
  const days = transitions(zone)
    .map((tr) => {
      const jump = Math.abs(tr.after - tr.before);
      // Gap: the skipped local times start at the old offset; overlap: the repeated ones at the new.
      const first = tr.at + (tr.after > tr.before ? tr.before : tr.after);
      return { day: dateOf(first), tricky: timestamp(first + jump / 2).slice(11) };
    })
    .filter(({ day }) => day >= '2024-01-01' && day <= '2026-12-31');
  return days.length > 0 ? days : [{ day: '2025-03-30' }];
}

/**
 * PostgreSQL's own rules for a name (`SET TIME ZONE` never reads an abbreviation), as offset
 * changes on a daily 12:00Z scan plus the offsets just before and at each oracle transition.
 */
async function serverRules(knex: Knex, zones: { name: string; probes: number[] }[]) {
  return knex.transaction(async (trx) => {
    await trx.raw(`
      CREATE FUNCTION pg_temp.zone_rules(names text[], probes text[])
        RETURNS TABLE (name text, changes text, probed text) LANGUAGE plpgsql AS $$
      BEGIN
        FOR k IN 1 .. coalesce(array_length(names, 1), 0) LOOP
          PERFORM set_config('timezone', names[k], true);
          name := names[k];
          SELECT string_agg(d || ':' || off, ',' ORDER BY d) INTO changes
            FROM (SELECT d, off, lag(off) OVER (ORDER BY d) AS prev
                    FROM (SELECT d, extract(timezone FROM timestamptz '2023-12-31 12:00:00+00' + d * interval '24 hours')::int AS off
                            FROM generate_series(0, ${SCAN_DAYS - 1}) d) s) c
           WHERE prev IS DISTINCT FROM off;
          SELECT string_agg(extract(timezone FROM to_timestamp(p::double precision / 1000))::int::text, ',' ORDER BY i) INTO probed
            FROM unnest(string_to_array(probes[k], ',')) WITH ORDINALITY AS x (p, i);
          RETURN NEXT;
        END LOOP;
      END $$`);
    const { rows } = await trx.raw<{ rows: { name: string; changes: string; probed: string | null }[] }>(
      'SELECT * FROM pg_temp.zone_rules(?::text[], ?::text[])',
      [zones.map((z) => z.name), zones.map((z) => z.probes.join(','))],
    );
    return new Map(rows.map((row) => [row.name, row]));
  });
}

/** The same scan through the oracle. */
function oracleRules(zone: string, probes: number[]) {
  const changes = dailyOffsets(zone)
    .map((off, d, scan) => (d === 0 || off !== scan[d - 1] ? `${d}:${off / 1000}` : ''))
    .filter(Boolean);
  return { changes: changes.join(','), probed: probes.map((t) => offset(zone, t) / 1000).join(',') || null };
}

let zones: Zone[] = [];

beforeAll(async () => {
  const db = await createTestDatabase({ migrated: false });
  try {
    const names = (await db.knex.raw<{ rows: { name: string }[] }>('SELECT name FROM pg_timezone_names ORDER BY name')).rows.map(
      (row) => row.name,
    );
    const noOracle = names.filter((name) => oracleName(name) === undefined);
    const candidates = names
      .filter((name) => oracleName(name) !== undefined)
      .map((name) => ({
        name,
        oracle: oracleName(name)!,
        probes: transitions(oracleName(name)!).flatMap((tr) => [tr.at - 1000, tr.at]),
      }));
    const server = await serverRules(db.knex, candidates);
    const oracleScans = new Map<string, ReturnType<typeof oracleRules>>();
    const differ = candidates.filter((zone) => {
      if (!oracleScans.has(zone.oracle)) oracleScans.set(zone.oracle, oracleRules(zone.oracle, zone.probes));
      const theirs = oracleScans.get(zone.oracle)!;
      const ours = server.get(zone.name)!;
      return theirs.changes !== ours.changes || theirs.probed !== ours.probed;
    });
    const seen = new Set<string>();
    zones = candidates
      .filter((zone) => !differ.includes(zone))
      .map((zone) => ({
        name: zone.name,
        oracle: zone.oracle,
        days: transitionDays(zone.oracle),
        full: !seen.has(zone.oracle) && !!seen.add(zone.oracle),
      }));
    console.info(
      `zone oracle: ${names.length} names in pg_timezone_names; checking ${zones.length}; ` +
        `left out ${noOracle.length} Intl does not know (${noOracle.join(', ')}) and ${differ.length} whose 2024-2026 rules ` +
        `differ between this server's tzdata and ICU ${process.versions.tz} (${differ.map((z) => z.name).join(', ')})`,
    );
  } finally {
    await db.drop();
  }
}, 120_000);

// ---- Seeding in bulk ---------------------------------------------------------------------------

/** Inserts rows given as columns of arrays, in one statement (`unnest`). */
async function insertColumns(knex: Knex, table: string, columns: Record<string, [type: string, values: unknown[]]>) {
  const names = Object.keys(columns);
  const sql = `INSERT INTO ${table} (${names.join(', ')}) SELECT * FROM unnest(${names.map((n) => `?::${columns[n][0]}[]`).join(', ')})`;
  await knex.raw(sql, names.map((n) => columns[n][1]) as Knex.RawBinding[]);
}

const useAbbreviations = (db: TestDatabase, set: string) =>
  db.knex.raw(`ALTER DATABASE ${db.name} SET timezone_abbreviations = '${set}'`);

// ---- recurring --------------------------------------------------------------------------------

type Kind = 'daily' | 'weekly' | 'monthly' | 'yearly';

interface Series {
  zone: Zone;
  kind: Kind;
  /** The series' anchor and the occurrence before the checked one, both local (`YYYY-MM-DD HH:MM:SS`). */
  anchor: string;
  previous: string;
  next: string;
}

const daysIn = (year: number, month: number) => new Date(Date.UTC(year, month, 0)).getUTCDate();
const ymd = (y: number, m: number, d: number) => `${y}-${String(m).padStart(2, '0')}-${String(d).padStart(2, '0')}`;
/** Month `m` (1-12) of year `y` shifted by `by` months. */
const shiftMonth = (y: number, m: number, by: number): [number, number] => {
  const index = y * 12 + (m - 1) + by;
  return [Math.floor(index / 12), (index % 12) + 1];
};

function seriesOf(zone: Zone): Series[] {
  const all: Series[] = [];
  const add = (kind: Kind, anchor: string, previous: string, next: string, time: string) =>
    all.push({ zone, kind, anchor: `${anchor} ${time}`, previous: `${previous} ${time}`, next: `${next} ${time}` });
  for (const { day, tricky } of zone.days) {
    const [y, m, d] = day.split('-').map(Number);
    for (const time of [...(tricky ? [tricky] : []), '00:00:00', '23:30:00']) {
      add('daily', plusDays(day, -1), plusDays(day, -1), day, time);
      if (!zone.full) continue;
      add('weekly', plusDays(day, -7), plusDays(day, -7), day, time);
      // Monthly onto this day: from the same day, or from the 29th-31st that clamps or unclamps onto it.
      const anchorDays = d < 29 ? [d] : d === daysIn(y, m) ? [29, 30, 31].filter((n) => n >= d) : [d];
      for (const anchorDay of anchorDays) {
        let back = 1;
        while (daysIn(...shiftMonth(y, m, -back)) < anchorDay) back += 1;
        const [ay, am] = shiftMonth(y, m, -back);
        const [py, pm] = shiftMonth(y, m, -1);
        add('monthly', ymd(ay, am, anchorDay), ymd(py, pm, Math.min(anchorDay, daysIn(py, pm))), day, time);
      }
      if (!(m === 2 && d === 29)) add('yearly', ymd(y - 1, m, d), ymd(y - 1, m, d), day, time);
    }
  }
  for (const time of zone.full ? ['00:00:00', '23:30:00'] : []) {
    add('yearly', '2024-02-29', '2024-02-29', '2025-02-28', time);
    add('yearly', '2024-02-29', '2025-02-28', '2026-02-28', time);
    add('monthly', '2025-01-31', '2025-01-31', '2025-02-28', time);
    add('monthly', '2025-01-31', '2025-02-28', '2025-03-31', time);
  }
  return all;
}

const localMs = (text: string) => Date.parse(`${text.replace(' ', 'T')}Z`);

async function checkRecurring(db: TestDatabase) {
  const series = zones.flatMap(seriesOf);
  const owners = new Map(zones.map((zone) => [zone.name, randomUUID()]));
  await insertColumns(db.knex, 'users', {
    id: ['uuid', [...owners.values()]],
    email: ['text', [...owners.keys()].map((_, i) => `oracle-${i}@example.test`)],
    timezone: ['text', [...owners.keys()]],
    // Kept out of the rollover runs that follow.
    last_rollover_date: ['date', [...owners.keys()].map(() => '9999-01-01')],
  });
  const ids = series.map(() => randomUUID());
  const dues = series.map((s) => new Date(instant(s.zone.oracle, localMs(s.previous))));
  await insertColumns(db.knex, 'tasks', {
    id: ['uuid', ids],
    user_id: ['uuid', series.map((s) => owners.get(s.zone.name))],
    title: ['text', series.map((s) => `${s.kind} ${s.anchor} ${s.zone.name}`)],
    due_date: ['timestamptz', dues],
    completed: ['boolean', series.map(() => true)],
    completed_at: ['timestamptz', dues],
    is_recurring: ['boolean', series.map(() => true)],
    recurrence_type: ['text', series.map((s) => s.kind)],
    recurrence_interval: ['int', series.map(() => 1)],
    // As the API writes it (no anchor) whenever the due date's own wall clock is the anchor.
    recurrence_anchor: [
      'timestamp',
      series.map((s, i) =>
        s.anchor === s.previous && wall(s.zone.oracle, dues[i].getTime()) === localMs(s.previous) ? null : s.anchor,
      ),
    ],
  });

  const run = await cli(['recurring', '--now', '2027-01-01T00:00:00Z', '--json', '--batch-size', '5000'], {
    DATABASE_URL: db.url,
  });
  expect(run.code, run.stderr.slice(0, 2000)).toBe(0);

  const { rows } = await db.knex.raw<{ rows: { parent: string; due: Date }[] }>(
    'SELECT recurrence_parent_id AS parent, due_date AS due FROM tasks WHERE recurrence_parent_id IS NOT NULL',
  );
  const made = new Map(rows.map((row) => [row.parent, row.due.toISOString()]));
  const wrong = series
    .map((s, i) => ({ s, want: new Date(instant(s.zone.oracle, localMs(s.next))).toISOString(), got: made.get(ids[i]) }))
    .filter(({ want, got }) => want !== got)
    .map(({ s, want, got }) => `${s.zone.name} ${s.kind} from ${s.anchor}, after ${s.previous}: want ${want}, got ${got}`);
  expect(wrong.slice(0, 20), `${wrong.length} of ${series.length} series`).toEqual([]);
  return series.length;
}

// ---- rollover ---------------------------------------------------------------------------------

interface Closing {
  zone: Zone;
  day: string;
  userId: string;
}

/**
 * Both ends of each transition day: the user's plans for the day before and the day itself each
 * hold a task completed 1 ms before the day ends (counts) and one at its end (does not), so each
 * day scores 1 of 2 only if it closes at the oracle's instant. One rollover run per group of
 * transition days at most 45 days apart (a run has one now; users close up to 48 days each).
 */
async function checkRollover(db: TestDatabase) {
  const closings = zones.flatMap((zone) =>
    zone.days.slice(0, zone.full ? undefined : 1).map(({ day }) => ({ zone, day, userId: randomUUID() })),
  );
  closings.sort((a, b) => a.day.localeCompare(b.day));
  const groups: Closing[][] = [];
  for (const closing of closings) {
    const group = groups.at(-1);
    if (group && closing.day <= plusDays(group[0].day, 45)) group.push(closing);
    else groups.push([closing]);
  }
  const wrong: string[] = [];
  for (const group of groups) {
    const planIds = group.flatMap(() => [randomUUID(), randomUUID()]);
    const taskIds = group.flatMap(() => [randomUUID(), randomUUID(), randomUUID(), randomUUID()]);
    const ends = group.flatMap(({ zone, day }) => {
      const end = (d: string) => startOfDay(zone.oracle, plusDays(d, 1));
      return [end(plusDays(day, -1)) - 1, end(plusDays(day, -1)), end(day) - 1, end(day)];
    });
    await insertColumns(db.knex, 'users', {
      id: ['uuid', group.map((c) => c.userId)],
      email: ['text', group.map((c) => `closing-${c.userId}@example.test`)],
      timezone: ['text', group.map((c) => c.zone.name)],
      last_rollover_date: ['date', group.map((c) => plusDays(c.day, -2))],
    });
    await insertColumns(db.knex, 'daily_plans', {
      id: ['uuid', planIds],
      user_id: ['uuid', group.flatMap((c) => [c.userId, c.userId])],
      plan_date: ['date', group.flatMap((c) => [plusDays(c.day, -1), c.day])],
    });
    await insertColumns(db.knex, 'tasks', {
      id: ['uuid', taskIds],
      user_id: ['uuid', group.flatMap((c) => [c.userId, c.userId, c.userId, c.userId])],
      title: ['text', taskIds.map(() => 'planned')],
      completed: ['boolean', taskIds.map(() => true)],
      completed_at: ['timestamptz', ends.map((t) => new Date(t))],
    });
    await insertColumns(db.knex, 'daily_plan_tasks', {
      plan_id: ['uuid', taskIds.map((_, i) => planIds[Math.floor(i / 2)])],
      task_id: ['uuid', taskIds],
    });

    const now = Date.parse(`${plusDays(group.at(-1)!.day, 1)}T12:00:00Z`);
    const run = await cli(['rollover', '--now', new Date(now).toISOString(), '--json'], {
      DATABASE_URL: db.url,
      ROLLOVER_MAX_CATCHUP_DAYS: '60',
    });
    expect(run.code, run.stderr.slice(0, 2000)).toBe(0);

    const { rows } = await db.knex.raw<{ rows: { user_id: string; last: string; scored: string | null }[] }>(
      `SELECT u.id AS user_id, u.last_rollover_date::text AS last,
              string_agg(h.date || '=' || h.completed_count || '/' || h.total_count, ' ' ORDER BY h.date) FILTER (WHERE h.total_count > 0) AS scored
         FROM users u LEFT JOIN performance_history h ON h.user_id = u.id
        WHERE u.id = ANY (?::uuid[]) GROUP BY u.id`,
      [group.map((c) => c.userId)],
    );
    const byUser = new Map(rows.map((row) => [row.user_id, row]));
    for (const { zone, day, userId } of group) {
      const want = `${plusDays(day, -1)}=1/2 ${day}=1/2 last ${plusDays(localDate(zone.oracle, now), -1)}`;
      const row = byUser.get(userId)!;
      const got = `${row.scored} last ${row.last}`;
      if (want !== got) wrong.push(`${zone.name} ${day} at ${new Date(now).toISOString()}: want ${want}, got ${got}`);
    }
    // Done: out of the next runs' way.
    await db
      .knex('users')
      .whereIn(
        'id',
        group.map((c) => c.userId),
      )
      .update({ last_rollover_date: '9999-01-01' });
  }
  expect(wrong.slice(0, 20), `${wrong.length} of ${closings.length} closings`).toEqual([]);
  return { closings: closings.length, runs: groups.length };
}

// ---- the runs ---------------------------------------------------------------------------------

describe('zones: every zone PostgreSQL knows agrees with the oracle, whatever timezone_abbreviations is', () => {
  for (const set of ['Default', 'Australia', 'India']) {
    test(`timezone_abbreviations = ${set}: recurring and rollover over every zone`, { timeout: 300_000 }, async ({ db }) => {
      await useAbbreviations(db, set);
      const started = Date.now();
      const series = await checkRecurring(db);
      const { closings, runs } = await checkRollover(db);
      console.info(
        `${set}: ${series} recurrence checks and ${closings} day closings (${runs} rollover runs) over ${zones.length} zones in ${((Date.now() - started) / 1000).toFixed(1)} s`,
      );
    });
  }
});
