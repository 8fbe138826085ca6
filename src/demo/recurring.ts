import type { Knex } from 'knex';
import { DateTime } from 'luxon';
import { query } from '../core/sql.js';

/** The most recent day, up to a year back, whose UTC offset differs from the day before's in `zone`. */
function lastOffsetChange(zone: string, now: Date): DateTime | undefined {
  let day = DateTime.fromJSDate(now, { zone }).startOf('day').set({ hour: 12 });
  for (let i = 0; i < 366; i += 1) {
    const before = day.minus({ days: 1 });
    if (before.offset !== day.offset) return day;
    day = before;
  }
  return undefined;
}

/** The most recent 31st, before this month, followed by a shorter month (so its next instance clamps). */
function lastClampingThirtyFirst(zone: string, now: Date): DateTime {
  let month = DateTime.fromJSDate(now, { zone }).startOf('month').minus({ months: 1 });
  while (month.daysInMonth !== 31 || month.plus({ months: 1 }).daysInMonth! >= 31) month = month.minus({ months: 1 });
  return month.set({ day: 31 });
}

/**
 * Two completed recurring tasks that show the calendar rules in the demo: a monthly one due on
 * a 31st (its next instance falls on the shorter month's last day), and a daily 09:00 one due
 * the day before the owner's last DST change (its next instance is still 09:00 local, at
 * another UTC hour).
 */
export async function seedRecurringDemo(trx: Knex.Transaction, userId: string, zone: string, now: Date): Promise<void> {
  const monthEnd = lastClampingThirtyFirst(zone, now).set({ hour: 18, minute: 0 });
  const dstDay = lastOffsetChange(zone, now);
  const tasks = [
    { title: 'Pay the credit card', kind: 'monthly', due: monthEnd, tags: '{money}' },
    ...(dstDay
      ? [
          {
            title: 'Morning stand-up notes',
            kind: 'daily',
            due: dstDay.minus({ days: 1 }).set({ hour: 9, minute: 0 }),
            tags: '{work}',
          },
        ]
      : []),
  ];
  for (const task of tasks) {
    await query(
      trx,
      `INSERT INTO tasks (user_id, title, priority, tags, due_date, completed, completed_at, is_recurring, recurrence_type)
       VALUES (:userId, :title, 'high', :tags, :due, true, :due::timestamptz + interval '15 minutes', true, :kind)`,
      { userId, title: task.title, tags: task.tags, due: task.due.toJSDate(), kind: task.kind },
    );
  }
}
