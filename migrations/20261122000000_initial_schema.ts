import type { Knex } from 'knex';

/**
 * Every table of the contract. The API writes these tables too, so every column we add has a
 * default, and the constraints make bad rows impossible rather than something each job checks.
 * Partial indexes match each job's claim query, so a run costs O(eligible rows), not O(table).
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE TABLE users (
      id                     uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      email                  text NOT NULL UNIQUE,
      display_name           text,
      timezone               text NOT NULL DEFAULT 'UTC',
      password_reset_token   text,
      password_reset_expires timestamptz,
      last_rollover_date     date,
      created_at             timestamptz NOT NULL DEFAULT now()
    );
    -- cleanup-tokens: only rows that hold an expiry are ever looked at.
    CREATE INDEX users_password_reset_expires_idx ON users (password_reset_expires)
      WHERE password_reset_expires IS NOT NULL;
    CREATE INDEX users_timezone_idx ON users (timezone);

    CREATE TABLE tasks (
      id                   uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      user_id              uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
      title                text NOT NULL,
      description          text,
      priority             text NOT NULL DEFAULT 'medium' CHECK (priority IN ('low', 'medium', 'high', 'urgent')),
      tags                 text[] NOT NULL DEFAULT '{}',
      due_date             timestamptz,
      completed            boolean NOT NULL DEFAULT false,
      completed_at         timestamptz,
      status               text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'overdue')),
      overdue_at           timestamptz,
      is_recurring         boolean NOT NULL DEFAULT false,
      recurrence_type      text CHECK (recurrence_type IN ('daily', 'weekly', 'monthly', 'yearly')),
      recurrence_interval  integer NOT NULL DEFAULT 1 CHECK (recurrence_interval >= 1),
      -- At most one child per task: the database itself refuses a second next instance.
      recurrence_parent_id uuid UNIQUE REFERENCES tasks (id) ON DELETE SET NULL,
      last_processed_at    timestamptz,
      created_at           timestamptz NOT NULL DEFAULT now(),
      updated_at           timestamptz NOT NULL DEFAULT now(),
      CONSTRAINT tasks_recurring_has_type CHECK (NOT is_recurring OR recurrence_type IS NOT NULL),
      CONSTRAINT tasks_overdue_has_time CHECK (status = 'open' OR overdue_at IS NOT NULL)
    );
    CREATE INDEX tasks_user_id_idx ON tasks (user_id);
    -- overdue: open tasks that may fall due, in due order.
    CREATE INDEX tasks_open_due_idx ON tasks (due_date)
      WHERE status = 'open' AND NOT completed AND due_date IS NOT NULL;
    -- overdue: overdue tasks whose due date may have moved into the future.
    CREATE INDEX tasks_overdue_due_idx ON tasks (due_date)
      WHERE status = 'overdue' AND NOT completed;
    -- overdue: overdue tasks that were completed or lost their due date since.
    CREATE INDEX tasks_overdue_settled_idx ON tasks (id)
      WHERE status = 'overdue' AND (completed OR due_date IS NULL);
    -- recurring: completed occurrences whose next instance is not made yet.
    CREATE INDEX tasks_recurring_pending_idx ON tasks (completed_at)
      WHERE is_recurring AND completed AND due_date IS NOT NULL AND last_processed_at IS NULL;

    CREATE TABLE reminders (
      id        uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      user_id   uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
      -- No foreign key on purpose: a reminder outlives its deleted task, so the reminders job
      -- closes it as 'skipped' instead of the row silently vanishing.
      task_id   uuid,
      remind_at timestamptz NOT NULL,
      channels  text[] NOT NULL DEFAULT '{web}' CHECK (channels <@ ARRAY['web', 'chat']::text[] AND cardinality(channels) > 0),
      message   text,
      sent      boolean NOT NULL DEFAULT false,
      sent_at   timestamptz,
      outcome   text CHECK (outcome IN ('queued', 'skipped', 'expired')),
      created_at timestamptz NOT NULL DEFAULT now(),
      CONSTRAINT reminders_sent_has_outcome CHECK (NOT sent OR outcome IS NOT NULL)
    );
    CREATE INDEX reminders_user_id_idx ON reminders (user_id);
    CREATE INDEX reminders_task_id_idx ON reminders (task_id);
    CREATE INDEX reminders_due_idx ON reminders (remind_at) WHERE NOT sent;

    CREATE TABLE push_subscriptions (
      id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      user_id         uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
      endpoint        text NOT NULL UNIQUE,
      p256dh          text NOT NULL,
      auth            text NOT NULL,
      expiration_time timestamptz,
      created_at      timestamptz NOT NULL DEFAULT now(),
      last_success_at timestamptz,
      failure_count   integer NOT NULL DEFAULT 0 CHECK (failure_count >= 0)
    );
    CREATE INDEX push_subscriptions_user_id_idx ON push_subscriptions (user_id);

    CREATE TABLE notifications (
      id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      user_id      uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
      title        text NOT NULL,
      body         text,
      url          text,
      data         jsonb NOT NULL DEFAULT '{}',
      channels     text[] NOT NULL DEFAULT '{web}' CHECK (channels <@ ARRAY['web', 'chat']::text[]),
      source       text NOT NULL DEFAULT 'system',
      -- Unique when set: 'reminder:<id>', 'overdue:<task>:<due>', ... make every producer idempotent.
      dedupe_key   text UNIQUE,
      status       text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'processing', 'sent', 'failed')),
      attempts     integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
      run_after    timestamptz NOT NULL DEFAULT now(),
      locked_until timestamptz,
      last_error   text,
      created_at   timestamptz NOT NULL DEFAULT now(),
      sent_at      timestamptz,
      read_at      timestamptz
    );
    CREATE INDEX notifications_user_inbox_idx ON notifications (user_id, created_at DESC);
    CREATE INDEX notifications_pending_idx ON notifications (run_after) WHERE status = 'pending';
    CREATE INDEX notifications_leased_idx ON notifications (locked_until) WHERE status = 'processing';

    CREATE TABLE notification_deliveries (
      id              bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
      notification_id uuid NOT NULL REFERENCES notifications (id) ON DELETE CASCADE,
      channel         text NOT NULL CHECK (channel IN ('web', 'chat')),
      -- History stays when a gone subscription is deleted.
      subscription_id uuid REFERENCES push_subscriptions (id) ON DELETE SET NULL,
      status_code     integer,
      outcome         text NOT NULL CHECK (outcome IN ('delivered', 'gone', 'retry', 'failed')),
      error           text,
      attempted_at    timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX notification_deliveries_notification_idx ON notification_deliveries (notification_id);

    CREATE TABLE goals (
      id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      user_id     uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
      title       text NOT NULL,
      description text,
      target_date date,
      progress    integer NOT NULL DEFAULT 0 CHECK (progress BETWEEN 0 AND 100),
      completed   boolean NOT NULL DEFAULT false,
      created_at  timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX goals_user_id_idx ON goals (user_id);

    CREATE TABLE activity_logs (
      id         bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
      user_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
      action     text NOT NULL,
      details    jsonb,
      created_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX activity_logs_user_idx ON activity_logs (user_id, created_at);

    CREATE TABLE daily_plans (
      id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      user_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
      plan_date  date NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now(),
      UNIQUE (user_id, plan_date)
    );

    CREATE TABLE daily_plan_tasks (
      plan_id uuid NOT NULL REFERENCES daily_plans (id) ON DELETE CASCADE,
      task_id uuid NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
      PRIMARY KEY (plan_id, task_id)
    );
    CREATE INDEX daily_plan_tasks_task_idx ON daily_plan_tasks (task_id);

    CREATE TABLE daily_routines (
      id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      user_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
      title      text NOT NULL,
      active     boolean NOT NULL DEFAULT true,
      created_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX daily_routines_user_idx ON daily_routines (user_id);

    CREATE TABLE routine_tasks (
      id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      routine_id   uuid NOT NULL REFERENCES daily_routines (id) ON DELETE CASCADE,
      user_id      uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
      title        text NOT NULL,
      completed    boolean NOT NULL DEFAULT false,
      completed_at timestamptz,
      position     integer NOT NULL DEFAULT 0
    );
    CREATE INDEX routine_tasks_routine_idx ON routine_tasks (routine_id);
    CREATE INDEX routine_tasks_user_idx ON routine_tasks (user_id);

    CREATE TABLE performance_history (
      id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      user_id         uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
      date            date NOT NULL,
      score           numeric(5, 2) CHECK (score BETWEEN 0 AND 100),
      completed_count integer NOT NULL CHECK (completed_count >= 0),
      total_count     integer NOT NULL CHECK (total_count >= completed_count),
      created_at      timestamptz NOT NULL DEFAULT now(),
      UNIQUE (user_id, date),
      CONSTRAINT performance_history_score_iff_planned CHECK ((score IS NULL) = (total_count = 0))
    );

    CREATE TABLE streaks (
      user_id            uuid PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
      current            integer NOT NULL DEFAULT 0 CHECK (current >= 0),
      longest            integer NOT NULL DEFAULT 0 CHECK (longest >= current),
      last_activity_date date,
      updated_at         timestamptz NOT NULL DEFAULT now()
    );

    CREATE TABLE export_jobs (
      id             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      user_id        uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
      format         text NOT NULL CHECK (format IN ('json', 'csv', 'markdown')),
      status         text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'processing', 'complete', 'failed')),
      attempts       integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
      locked_until   timestamptz,
      object_key     text,
      download_url   text,
      url_expires_at timestamptz,
      bytes          bigint CHECK (bytes >= 0),
      error          text,
      created_at     timestamptz NOT NULL DEFAULT now(),
      started_at     timestamptz,
      completed_at   timestamptz
    );
    CREATE INDEX export_jobs_user_idx ON export_jobs (user_id);
    CREATE INDEX export_jobs_pending_idx ON export_jobs (created_at) WHERE status = 'pending';
    CREATE INDEX export_jobs_leased_idx ON export_jobs (locked_until) WHERE status = 'processing';

    CREATE TABLE job_runs (
      id          bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
      job         text NOT NULL,
      started_at  timestamptz NOT NULL DEFAULT now(),
      finished_at timestamptz,
      status      text NOT NULL DEFAULT 'running' CHECK (status IN ('running', 'succeeded', 'failed', 'skipped')),
      dry_run     boolean NOT NULL DEFAULT false,
      processed   integer NOT NULL DEFAULT 0 CHECK (processed >= 0),
      failed      integer NOT NULL DEFAULT 0 CHECK (failed >= 0),
      details     jsonb NOT NULL DEFAULT '{}',
      host        text
    );
    CREATE INDEX job_runs_job_started_idx ON job_runs (job, started_at DESC);
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`
    DROP TABLE IF EXISTS job_runs, export_jobs, streaks, performance_history, routine_tasks, daily_routines,
      daily_plan_tasks, daily_plans, activity_logs, goals, notification_deliveries, notifications,
      push_subscriptions, reminders, tasks, users;
  `);
}
