import type { Knex } from 'knex';

/**
 * Wake-ups for following runs (src/core/follow.ts): a write that makes work due sooner, or at
 * all, sends a NOTIFY on the job's channel, so a waiting run handles it at once instead of at its
 * next tick.
 *
 * Row-level triggers with a WHEN condition rather than statement-level ones: PostgreSQL fires a
 * statement-level trigger even for a statement that changed no rows, so a run's own empty claim
 * would wake every run again; and the condition is evaluated without calling the function, so
 * the jobs' own writes (marking a reminder sent, leasing or settling a notification) cost nothing
 * extra. PostgreSQL delivers identical notifications of one transaction once (NOTIFY: "only one
 * instance of the notification event is delivered"), so a bulk insert is one wake-up. The
 * payload is empty: a woken run asks the table what is due.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE FUNCTION planner_jobs_notify() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      PERFORM pg_notify(TG_ARGV[0], '');
      RETURN NULL;
    END $$;

    CREATE TRIGGER reminders_follow_insert AFTER INSERT ON reminders
      FOR EACH ROW WHEN (NOT NEW.sent) EXECUTE FUNCTION planner_jobs_notify('planner_jobs_reminders');
    CREATE TRIGGER reminders_follow_update AFTER UPDATE OF remind_at, sent ON reminders
      FOR EACH ROW WHEN (NOT NEW.sent AND (OLD.sent OR OLD.remind_at IS DISTINCT FROM NEW.remind_at))
      EXECUTE FUNCTION planner_jobs_notify('planner_jobs_reminders');

    CREATE TRIGGER notifications_follow_insert AFTER INSERT ON notifications
      FOR EACH ROW WHEN (NEW.status = 'pending') EXECUTE FUNCTION planner_jobs_notify('planner_jobs_notifications');
    CREATE TRIGGER notifications_follow_update AFTER UPDATE OF status, run_after ON notifications
      FOR EACH ROW WHEN (NEW.status = 'pending' AND (OLD.status <> 'pending' OR OLD.run_after IS DISTINCT FROM NEW.run_after))
      EXECUTE FUNCTION planner_jobs_notify('planner_jobs_notifications');
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`
    DROP TRIGGER notifications_follow_update ON notifications;
    DROP TRIGGER notifications_follow_insert ON notifications;
    DROP TRIGGER reminders_follow_update ON reminders;
    DROP TRIGGER reminders_follow_insert ON reminders;
    DROP FUNCTION planner_jobs_notify();
  `);
}
