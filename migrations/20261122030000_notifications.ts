import type { Knex } from 'knex';

/**
 * Push subscriptions whose keys cannot be used (not a P-256 point, wrong auth length) are set
 * aside by the notifications job without a network call. A notification's `lease_token` is new
 * on every claim: the fencing token its outcome is written with (unlike `attempts`, an operator's
 * redrive cannot bring an old value back). The API never writes these columns.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    ALTER TABLE push_subscriptions
      ADD COLUMN quarantined_at timestamptz,
      ADD COLUMN quarantine_reason text;
    ALTER TABLE notifications ADD COLUMN lease_token uuid;
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`
    ALTER TABLE notifications DROP COLUMN lease_token;
    ALTER TABLE push_subscriptions
      DROP COLUMN quarantined_at,
      DROP COLUMN quarantine_reason;
  `);
}
