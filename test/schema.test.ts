import fs from 'node:fs/promises';
import { describe, expect } from 'vitest';
import { SCHEMA_FILE, snapshotSchema } from '../scripts/schema-snapshot.js';
import { test } from './support/db.js';
import { createNotification, createReminder, createTask, createUser } from './support/factories.js';

describe('schema: constraints make bad rows impossible', () => {
  test.for([
    ['an unknown priority', { priority: 'whenever' }],
    ['an unknown status', { status: 'late' }],
    ['a recurrence interval below 1', { is_recurring: true, recurrence_type: 'daily', recurrence_interval: 0 }],
    ['a recurring task without a type', { is_recurring: true }],
    ['an unknown recurrence type', { is_recurring: true, recurrence_type: 'hourly' }],
    ['overdue without overdue_at', { status: 'overdue' }],
  ] as const)('a task with %s is refused', async ([, fields], { db }) => {
    await expect(createTask(db.knex, fields)).rejects.toThrow(/violates check constraint/);
  });

  test('a task has at most one generated child', async ({ db }) => {
    const parent = await createTask(db.knex);
    await createTask(db.knex, { user_id: parent.user_id, recurrence_parent_id: parent.id });
    await expect(createTask(db.knex, { user_id: parent.user_id, recurrence_parent_id: parent.id })).rejects.toThrow(/unique/);
  });

  test('a dedupe key is used once; notifications without one are not limited', async ({ db }) => {
    const { user_id } = await createNotification(db.knex);
    await createNotification(db.knex, { user_id });
    await createNotification(db.knex, { user_id, dedupe_key: 'k' });
    await expect(createNotification(db.knex, { user_id, dedupe_key: 'k' })).rejects.toThrow(/unique/);
  });

  test('one performance row per user and day; a score only for a planned day', async ({ db }) => {
    const user = await createUser(db.knex);
    const day = { user_id: user.id, date: '2025-06-01', completed_count: 1, total_count: 2, score: 50 };
    await db.knex('performance_history').insert(day);
    await expect(db.knex('performance_history').insert(day)).rejects.toThrow(/unique/);
    await expect(
      db.knex('performance_history').insert({ ...day, date: '2025-06-02', total_count: 0, completed_count: 0 }),
    ).rejects.toThrow(/check constraint/);
  });

  test('deleting a user deletes everything of theirs', async ({ db }) => {
    const task = await createTask(db.knex);
    await createReminder(db.knex, { user_id: task.user_id, task_id: task.id });
    await db.knex('users').where({ id: task.user_id }).delete();
    expect(await db.knex('tasks').count({ n: '*' })).toEqual([{ n: '0' }]);
    expect(await db.knex('reminders').count({ n: '*' })).toEqual([{ n: '0' }]);
  });

  test("a reminder outlives its deleted task (the reminders job closes it as 'skipped')", async ({ db }) => {
    const task = await createTask(db.knex);
    await createReminder(db.knex, { user_id: task.user_id, task_id: task.id });
    await db.knex('tasks').where({ id: task.id }).delete();
    expect(await db.knex('reminders').where({ task_id: task.id }).count({ n: '*' })).toEqual([{ n: '1' }]);
  });
});

describe('schema: migrations/schema.sql is the schema the migrations produce', () => {
  test('it matches a freshly migrated database (else: npm run schema:snapshot)', async ({ db }) => {
    expect(await snapshotSchema(db.knex)).toBe(await fs.readFile(SCHEMA_FILE, 'utf8'));
  });
});
