import type { Knex } from 'knex';

/**
 * The recurring job's calendar, defined once, in PostgreSQL, where the batch statement uses it.
 *
 * A series is anchored on the wall-clock time of its first due date in the owner's zone
 * (`tasks.recurrence_anchor`, a `timestamp` without zone: "2025-01-31 09:00"). Each instance
 * carries it forward; a task the API wrote has none, and its own due date is then the anchor.
 * Occurrence n of a series is always computed from the anchor, never from the previous
 * instance, so month-end clamping is undone the next month and nothing drifts.
 *
 * `reminders.carried_from` is the reminder of the previous instance a reminder was copied
 * from: unique, so a reminder is carried over at most once, whatever reruns happen.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    ALTER TABLE tasks ADD COLUMN recurrence_anchor timestamp;
    COMMENT ON COLUMN tasks.recurrence_anchor IS
      'Wall-clock time of the series'' first due date in the owner''s zone; NULL: this task''s own due date is the anchor';

    ALTER TABLE reminders ADD COLUMN carried_from uuid;
    CREATE UNIQUE INDEX reminders_carried_from_key ON reminders (carried_from);
    COMMENT ON COLUMN reminders.carried_from IS
      'The reminder of the previous instance of a recurring task this one was recreated from';

    -- Wall-clock time of occurrence n of a series (n = 0 is the anchor): +N days, +7N days,
    -- +N months (the day clamped to the month's end: Jan 31 -> Feb 28 / 29, and back to Mar 31)
    -- or +N years (Feb 29 -> Feb 28, Feb 29 again in leap years). NULL past 9999-12-31: the
    -- calendar overflows there (no four-digit year, nothing the API can read back).
    CREATE FUNCTION recurrence_occurrence(anchor timestamp, kind text, every integer, n bigint)
      RETURNS timestamp LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$
      SELECT CASE
        WHEN kind IN ('daily', 'weekly') THEN
          CASE WHEN every * n * (CASE kind WHEN 'weekly' THEN 7 ELSE 1 END) <= date '9999-12-31' - anchor::date
               THEN anchor + make_interval(days => (every * n * (CASE kind WHEN 'weekly' THEN 7 ELSE 1 END))::integer) END
        WHEN kind IN ('monthly', 'yearly') THEN
          CASE WHEN every * n * (CASE kind WHEN 'yearly' THEN 12 ELSE 1 END)
                    <= (9999 - extract(year FROM anchor)::bigint) * 12 + 12 - extract(month FROM anchor)::bigint
               THEN anchor + make_interval(months => (every * n * (CASE kind WHEN 'yearly' THEN 12 ELSE 1 END))::integer) END
      END
    $$;

    -- The instant a wall-clock time names in a zone. A time the zone skips (02:30 on a
    -- spring-forward day) moves forward by the gap (03:30): that is what AT TIME ZONE does.
    -- A time that occurs twice (01:30 on a fall-back day) takes the FIRST occurrence, where
    -- AT TIME ZONE takes the second: the same wall-clock time under the offset of the day
    -- before is tried too and, when it names that same local time, the earlier instant wins.
    CREATE FUNCTION recurrence_instant(local timestamp, zone text)
      RETURNS timestamptz LANGUAGE sql STABLE PARALLEL SAFE
    AS $$
      SELECT CASE WHEN ((local - interval '1 day') AT TIME ZONE zone) + interval '24 hours' = local AT TIME ZONE zone
                    OR (((local - interval '1 day') AT TIME ZONE zone) + interval '24 hours') AT TIME ZONE zone <> local
                  THEN local AT TIME ZONE zone
                  ELSE least(local AT TIME ZONE zone, ((local - interval '1 day') AT TIME ZONE zone) + interval '24 hours')
             END
    $$;

    -- The next due date of a series: its first occurrence strictly after \`after\` (the later of
    -- the instance's due date and its completion). The occurrence index is estimated from the
    -- calendar distance between the anchor and \`after\` in whole days or months (the occurrence
    -- it names is never later than \`after\`'s local date), then the next ones are tried: DST and
    -- month-end clamping move an occurrence by hours or days, never by a whole period.
    -- NULL when the next occurrence overflows the calendar.
    CREATE FUNCTION recurrence_next_due(anchor timestamp, zone text, kind text, every integer, after timestamptz)
      RETURNS timestamptz LANGUAGE plpgsql STABLE STRICT PARALLEL SAFE
    AS $$
    DECLARE
      after_local timestamp := after AT TIME ZONE zone;
      n bigint := greatest(1, CASE
        WHEN kind IN ('daily', 'weekly') THEN
          (after_local::date - anchor::date) / (every::bigint * (CASE kind WHEN 'weekly' THEN 7 ELSE 1 END))
        ELSE
          ((extract(year FROM after_local) - extract(year FROM anchor))::bigint * 12
            + (extract(month FROM after_local) - extract(month FROM anchor))::bigint)
          / (every::bigint * (CASE kind WHEN 'yearly' THEN 12 ELSE 1 END))
      END);
      local timestamp;
      due timestamptz;
    BEGIN
      FOR i IN 0..2 LOOP
        -- Two steps: recurrence_instant is inlined, and would compute the occurrence four times.
        local := recurrence_occurrence(anchor, kind, every, n + i);
        due := recurrence_instant(local, zone);
        IF due IS NULL OR due > after THEN
          RETURN due;
        END IF;
      END LOOP;
      RETURN NULL;
    END
    $$;
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`
    DROP FUNCTION recurrence_next_due(timestamp, text, text, integer, timestamptz);
    DROP FUNCTION recurrence_instant(timestamp, text);
    DROP FUNCTION recurrence_occurrence(timestamp, text, integer, bigint);
    ALTER TABLE reminders DROP COLUMN carried_from;
    ALTER TABLE tasks DROP COLUMN recurrence_anchor;
  `);
}
