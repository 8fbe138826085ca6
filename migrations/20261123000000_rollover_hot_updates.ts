import type { Knex } from 'knex';

/**
 * The nightly rollover rewrites most routine tasks (every completed one is reset). With full
 * pages each rewrite is a new row version plus an entry in every index; with room left on the
 * page PostgreSQL updates in place (HOT), which made the reset about 8× cheaper in the rollover
 * benchmark. New pages keep the room; existing ones gain it as vacuum frees space.
 *
 * `users_timezone_idx` duplicated the leading column of `users_rollover_due_idx`, and every
 * rollover update of `last_rollover_date` paid for both.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    ALTER TABLE routine_tasks SET (fillfactor = 50);
    DROP INDEX IF EXISTS users_timezone_idx;
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE INDEX IF NOT EXISTS users_timezone_idx ON users (timezone);
    ALTER TABLE routine_tasks RESET (fillfactor);
  `);
}
