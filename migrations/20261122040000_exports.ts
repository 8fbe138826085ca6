import type { Knex } from 'knex';

/**
 * A failed export attempt waits before its retry: `run_after` holds the backoff. NULL (what the
 * API writes) means "as soon as possible", so rows the API inserts need nothing new.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw('ALTER TABLE export_jobs ADD COLUMN run_after timestamptz');
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('ALTER TABLE export_jobs DROP COLUMN IF EXISTS run_after');
}
