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

/** Inserts one row of `table`: `defaults`, then `fields` over them; returns the row as stored. */
async function insertRow<T>(knex: Knex, table: string, defaults: Row, fields: Row): Promise<T> {
  const [row] = await knex(table)
    .insert({ ...defaults, ...fields })
    .returning('*');
  return row as T;
}

/** The owner: `fields.user_id`, or a new user. */
const ownerOf = async (knex: Knex, fields: Row) => (fields.user_id as string | undefined) ?? (await createUser(knex)).id;

export const createUser = (knex: Knex, fields: Row = {}): Promise<User> =>
  insertRow(knex, 'users', { email: `user-${unique()}@example.test`, display_name: 'Test User' }, fields);

/** A task of `user_id`, or of a new user when none is given. */
export const createTask = async (knex: Knex, fields: Row = {}): Promise<Task> =>
  insertRow(knex, 'tasks', { title: `Task ${unique()}` }, { ...fields, user_id: await ownerOf(knex, fields) });

export interface Reminder extends Row {
  id: string;
  user_id: string;
  task_id: string | null;
  remind_at: Date;
  sent: boolean;
  outcome: 'queued' | 'skipped' | 'expired' | null;
}

/** A reminder of `user_id` (or a new user), due at `remind_at` (default: the epoch, so due). */
export const createReminder = async (knex: Knex, fields: Row = {}): Promise<Reminder> =>
  insertRow(knex, 'reminders', { remind_at: new Date(0) }, { ...fields, user_id: await ownerOf(knex, fields) });

export interface Notification extends Row {
  id: string;
  user_id: string;
  status: 'pending' | 'processing' | 'sent' | 'failed';
  attempts: number;
  run_after: Date;
  locked_until: Date | null;
  last_error: string | null;
}

/** A pending web notification of `user_id` (or a new user). */
export const createNotification = async (knex: Knex, fields: Row = {}): Promise<Notification> =>
  insertRow(
    knex,
    'notifications',
    { title: 'Pay rent', source: 'reminder' },
    { ...fields, user_id: await ownerOf(knex, fields) },
  );

export interface PushSubscription extends Row {
  id: string;
  user_id: string;
  endpoint: string;
  p256dh: string;
  auth: string;
  failure_count: number;
}

/** A push subscription of `user_id` (or a new user); pass the push service's endpoint and keys to deliver to it. */
export const createSubscription = async (knex: Knex, fields: Row = {}): Promise<PushSubscription> =>
  insertRow(
    knex,
    'push_subscriptions',
    // Loopback, and refused by the endpoint policy unless PUSH_ALLOWED_HOSTS lists it: never a connection elsewhere.
    { endpoint: `https://127.0.0.1:9/push/${unique()}`, p256dh: 'p256dh', auth: 'auth' },
    { ...fields, user_id: await ownerOf(knex, fields) },
  );

export interface ExportJob extends Row {
  id: string;
  user_id: string;
  format: 'json' | 'csv' | 'markdown';
  status: 'pending' | 'processing' | 'complete' | 'failed';
  attempts: number;
  run_after: Date | null;
  locked_until: Date | null;
  error: string | null;
}

/** A pending JSON export of `user_id` (or a new user). */
export const createExportJob = async (knex: Knex, fields: Row = {}): Promise<ExportJob> =>
  insertRow(knex, 'export_jobs', { format: 'json' }, { ...fields, user_id: await ownerOf(knex, fields) });

/** Many tasks in one statement, for volume tests. */
export async function createTasks(knex: Knex, count: number, fields: Row = {}): Promise<void> {
  const userId = await ownerOf(knex, fields);
  const rows = Array.from({ length: count }, (_, i) => ({ title: `Bulk task ${i}`, ...fields, user_id: userId }));
  await knex.batchInsert('tasks', rows, 1000);
}

export const getTask = (knex: Knex, id: string): Promise<Task> => knex('tasks').where({ id }).first();

export const at = (iso: string) => new Date(iso);
export const plusMs = (date: Date, ms: number) => new Date(date.getTime() + ms);
