import type { Knex } from 'knex';

/**
 * rollover: a claim walks the zones in use and, within each, only the users whose last closed day
 * is behind (`timezone = zone AND coalesce(last_rollover_date, '-infinity') < local yesterday`),
 * so a batch costs O(due users) however many users are already rolled over.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw("CREATE INDEX users_rollover_due_idx ON users (timezone, coalesce(last_rollover_date, '-infinity'::date))");
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('DROP INDEX IF EXISTS users_rollover_due_idx');
}
