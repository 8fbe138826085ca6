import { randomBytes } from 'node:crypto';
import type { Knex } from 'knex';

type Row = Record<string, unknown>;

const unique = () => randomBytes(5).toString('hex');

export interface User extends Row {
  id: string;
  email: string;
  timezone: string;
}

export interface Task extends Row {
  id: string;
  user_id: string;
  status: 'open' | 'overdue';
  due_date: Date | null;
  overdue_at: Date | null;
  completed: boolean;
}

export async function createUser(knex: Knex, fields: Row = {}): Promise<User> {
  const [user] = await knex('users')
    .insert({ email: `user-${unique()}@example.test`, display_name: 'Test User', ...fields })
    .returning('*');
  return user;
}

/** A task of `user_id`, or of a new user when none is given. */
export async function createTask(knex: Knex, fields: Row = {}): Promise<Task> {
  const userId = fields.user_id ?? (await createUser(knex)).id;
  const [task] = await knex('tasks')
    .insert({ title: `Task ${unique()}`, ...fields, user_id: userId })
    .returning('*');
  return task;
}

/** Many tasks in one statement, for volume tests. */
export async function createTasks(knex: Knex, count: number, fields: Row = {}): Promise<void> {
  const userId = fields.user_id ?? (await createUser(knex)).id;
  const rows = Array.from({ length: count }, (_, i) => ({ title: `Bulk task ${i}`, ...fields, user_id: userId }));
  await knex.batchInsert('tasks', rows, 1000);
}

export const getTask = (knex: Knex, id: string): Promise<Task> => knex('tasks').where({ id }).first();

export const at = (iso: string) => new Date(iso);
export const plusMs = (date: Date, ms: number) => new Date(date.getTime() + ms);
