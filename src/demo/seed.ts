import type { Knex } from 'knex';
import { query } from '../core/sql.js';
import { seedNotificationsDemo } from './notifications.js';
import { seedRecurringDemo } from './recurring.js';
import { seedExports } from './exports.js';
import { seedRolloverDemo } from './rollover.js';

export const DEMO_EMAIL_DOMAIN = 'demo.planner-jobs.test';

const USERS = [
  { name: 'Ana', zone: 'America/New_York' },
  { name: 'Bikash', zone: 'Asia/Kathmandu' },
  { name: 'Clara', zone: 'Europe/Berlin' },
  { name: 'Dai', zone: 'Asia/Tokyo' },
  { name: 'Eru', zone: 'Pacific/Chatham' },
];

/**
 * A small, realistic planner around `now`: users in several zones, tasks overdue and not,
 * recurring tasks, reminders, a push subscription, plans, routines and reset tokens.
 * Replaces any earlier demo data (demo users only), so the demo can run again.
 */
export async function seedDemo(knex: Knex, now: Date): Promise<void> {
  await knex.transaction(async (trx) => {
    await query(trx, 'DELETE FROM users WHERE email LIKE :pattern', { pattern: `%@${DEMO_EMAIL_DOMAIN}` });
    for (const [index, user] of USERS.entries()) {
      const [{ id }] = await query<{ id: string }>(
        trx,
        `INSERT INTO users (email, display_name, timezone, password_reset_token, password_reset_expires)
         VALUES (:email, :name, :zone, :token, :expires) RETURNING id`,
        {
          email: `${user.name.toLowerCase()}@${DEMO_EMAIL_DOMAIN}`,
          name: user.name,
          zone: user.zone,
          token: index < 3 ? `demo-reset-token-${index}` : null,
          // Two expired tokens, one still valid.
          expires: index < 3 ? new Date(now.getTime() + (index === 2 ? 3600_000 : -3600_000 * (index + 1))) : null,
        },
      );
      await query(
        trx,
        `INSERT INTO tasks (user_id, title, priority, tags, due_date, completed, completed_at, is_recurring, recurrence_type)
         VALUES (:id, 'Send the quarterly report', 'high', '{work}', :now::timestamptz - interval '2 hours', false, NULL, false, NULL),
                (:id, 'Book dentist appointment', 'medium', '{health}', :now::timestamptz + interval '3 days', false, NULL, false, NULL),
                (:id, 'Water the plants', 'low', '{home}', :now::timestamptz - interval '1 day', true, :now::timestamptz - interval '20 hours', true, 'daily'),
                (:id, 'Pay rent', 'urgent', '{home,money}', :now::timestamptz - interval '5 days', false, NULL, true, 'monthly')`,
        { id, now },
      );
      await query(
        trx,
        `INSERT INTO reminders (user_id, task_id, remind_at, channels)
         SELECT user_id, id, due_date - interval '1 hour', '{web}' FROM tasks WHERE user_id = :id AND NOT completed`,
        { id },
      );
      await query(
        trx,
        `INSERT INTO push_subscriptions (user_id, endpoint, p256dh, auth)
         VALUES (:id, 'https://push.invalid/demo/' || :id, 'BDemoKeyNotReal', 'demo-auth')`,
        { id },
      );
      await query(
        trx,
        `WITH plan AS (
           INSERT INTO daily_plans (user_id, plan_date)
           VALUES (:id, ((:now::timestamptz AT TIME ZONE :zone)::date - 1)) RETURNING id
         )
         INSERT INTO daily_plan_tasks (plan_id, task_id)
         SELECT plan.id, tasks.id FROM plan, tasks WHERE tasks.user_id = :id`,
        { id, now, zone: user.zone },
      );
      await query(
        trx,
        `WITH routine AS (INSERT INTO daily_routines (user_id, title) VALUES (:id, 'Morning routine') RETURNING id)
         INSERT INTO routine_tasks (routine_id, user_id, title, completed, completed_at, position)
         SELECT routine.id, :id, title, done, CASE WHEN done THEN :now::timestamptz - interval '10 hours' END, position
           FROM routine, (VALUES ('Stretch', true, 1), ('Read 20 pages', :index % 2 = 0, 2), ('Plan the day', true, 3)) AS t(title, done, position)`,
        { id, now, index },
      );
      if (index === 0) await seedExports(trx, id);
      if (index === 1) await seedNotificationsDemo(trx, id, now);
      if (index === 0) await seedRecurringDemo(trx, id, user.zone, now);
      if (index < 3) await seedRolloverDemo(trx, id, user.zone, now);
    }
  });
}
