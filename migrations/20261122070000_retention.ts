import type { Knex } from 'knex';

/** `prune` finds old runs and old sent notifications by these, in batches, without scanning the tables. */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE INDEX job_runs_started_idx ON job_runs (started_at);
    CREATE INDEX notifications_sent_at_idx ON notifications (sent_at) WHERE status = 'sent';
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`
    DROP INDEX IF EXISTS notifications_sent_at_idx;
    DROP INDEX IF EXISTS job_runs_started_idx;
  `);
}
