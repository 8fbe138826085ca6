import type { Knex } from 'knex';
import { query } from '../core/sql.js';

/**
 * Rollover demo data for one demo user: their last closed day is the day before local yesterday,
 * with a streak of 3 kept up to it, so the run closes local yesterday (scored from the seeded plan
 * and routine) and carries the streak on or resets it.
 */
export async function seedRolloverDemo(trx: Knex.Transaction, userId: string, zone: string, now: Date): Promise<void> {
  await query(
    trx,
    `WITH local AS (SELECT (:now::timestamptz AT TIME ZONE :zone)::date AS today)
     UPDATE users SET last_rollover_date = local.today - 2 FROM local WHERE id = :userId`,
    { userId, zone, now },
  );
  await query(
    trx,
    `INSERT INTO streaks (user_id, current, longest, last_activity_date, updated_at)
     SELECT :userId, 3, 5, (:now::timestamptz AT TIME ZONE :zone)::date - 2, :now`,
    { userId, zone, now },
  );
}

/** One line per demo user who has a closed day: zone, last day closed, its score and the streak. */
export async function rolloverReport(knex: Knex, emailDomain: string): Promise<string[]> {
  const rows = await query<{
    name: string;
    zone: string;
    day: string;
    score: string | null;
    done: number;
    total: number;
    current: number;
    longest: number;
  }>(
    knex,
    `SELECT u.display_name AS name, u.timezone AS zone, h.date::text AS day, h.score::text AS score,
            h.completed_count AS done, h.total_count AS total, s.current, s.longest
       FROM users u
       JOIN LATERAL (SELECT * FROM performance_history h WHERE h.user_id = u.id ORDER BY h.date DESC LIMIT 1) h ON true
       JOIN streaks s ON s.user_id = u.id
      WHERE u.email LIKE :pattern
      ORDER BY u.display_name`,
    { pattern: `%@${emailDomain}` },
  );
  return rows.map(
    (row) =>
      `  ${row.name} (${row.zone}): ${row.day} scored ${row.score ?? 'nothing planned'} (${row.done}/${row.total}), streak ${row.current} (longest ${row.longest})`,
  );
}
