import type { Knex } from 'knex';

/**
 * 1. `tasks.recurrence_parent_id` stays unique (at most one generated child per task), but only
 *    the generated children are indexed: the full unique constraint kept one entry per task (a
 *    NULL for every task the API wrote), so every insert of any task paid for it. `ON CONFLICT`
 *    names the predicate (`ON CONFLICT (recurrence_parent_id) WHERE recurrence_parent_id IS NOT
 *    NULL`) to use it as its arbiter.
 * 2. `users_rollover_due_idx` ends with `id`, so rollover's claim continues within a zone after
 *    the last (last closed day, id) it claimed (a keyset cursor: every user of a zone shares the
 *    same last closed day, so that day alone cannot say where the previous claim stopped).
 * 3. `parked_items`: rows a job could not process because of their own data (a value the
 *    database cannot compute with, a rule refusing that row). Claims leave them out until
 *    `retry_after`, so one bad row costs one failure, not a failure in every run, and never
 *    blocks the rows behind it (src/core/batches.ts). `item_id` is the row's id as text (uuid or
 *    bigint, whatever the job's table uses).
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE UNIQUE INDEX tasks_recurrence_parent_key ON tasks (recurrence_parent_id) WHERE recurrence_parent_id IS NOT NULL;
    ALTER TABLE tasks DROP CONSTRAINT tasks_recurrence_parent_id_key;

    DROP INDEX users_rollover_due_idx;
    CREATE INDEX users_rollover_due_idx ON users (timezone, coalesce(last_rollover_date, '-infinity'::date), id);

    CREATE TABLE parked_items (
      job         text NOT NULL,
      item_id     text NOT NULL,
      step        text NOT NULL,
      reason      text NOT NULL,
      parked_at   timestamptz NOT NULL,
      retry_after timestamptz NOT NULL,
      run_id      bigint,
      PRIMARY KEY (job, item_id)
    );
    COMMENT ON TABLE parked_items IS
      'Rows a job failed on because of their own data; its claims leave them out until retry_after';
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`
    DROP TABLE parked_items;
    DROP INDEX users_rollover_due_idx;
    CREATE INDEX users_rollover_due_idx ON users (timezone, coalesce(last_rollover_date, '-infinity'::date));
    ALTER TABLE tasks ADD CONSTRAINT tasks_recurrence_parent_id_key UNIQUE (recurrence_parent_id);
    DROP INDEX tasks_recurrence_parent_key;
  `);
}
