import type { Knex } from 'knex';
import { query } from '../core/sql.js';

/**
 * Reminders that show each outcome of the `reminders` job beside the task reminders the seed
 * makes: a note of the user's own (web and chat, queued), and one of a task already completed
 * (skipped). The seed's reminder of a task due days ago shows `expired`.
 */
export async function seedNotificationsDemo(trx: Knex.Transaction, userId: string, now: Date): Promise<void> {
  await query(
    trx,
    `INSERT INTO reminders (user_id, task_id, remind_at, channels, message)
     VALUES (:userId, NULL, :now::timestamptz - interval '5 minutes', '{web,chat}', 'Stand-up in 10 minutes'),
            (:userId, (SELECT id FROM tasks WHERE user_id = :userId AND completed LIMIT 1), :now::timestamptz - interval '2 minutes', '{web}', NULL)`,
    { userId, now },
  );
}
