import type { Knex } from 'knex';

/**
 * An export's `lease_token` is new on every claim: the fencing token every later statement of
 * that attempt is written with, as for notifications. `attempts` cannot fence, because
 * `retry exports --failed` resets it and a stale holder's old value could then match again.
 * The API never writes this column (NULL: not claimed).
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw('ALTER TABLE export_jobs ADD COLUMN lease_token uuid');
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('ALTER TABLE export_jobs DROP COLUMN IF EXISTS lease_token');
}
