import fs from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { parse } from 'csv-parse/sync';
import type { Knex } from 'knex';
import yauzl from 'yauzl';
import { createUser, type User } from './factories.js';

/** Text that breaks naive serializers: quotes, commas, line breaks, HTML, pipes, formulas, non-ASCII. */
export const TRICKY = 'He said "hi", then\r\nleft | <b>bold</b> & <script>alert(1)</script> 🎉 ünïcødé';

/**
 * One user with a row in every entity an export holds, every text field carrying `marker`
 * (so a test can tell two users' data apart), plus secrets that must never be exported.
 */
export async function seedPlanner(knex: Knex, marker: string): Promise<{ user: User; taskId: string }> {
  const user = await createUser(knex, {
    email: `${marker}@example.test`,
    display_name: `${marker} ${TRICKY}`,
    timezone: 'Europe/Berlin',
    password_reset_token: `secret-token-${marker}`,
    password_reset_expires: new Date('2030-01-01T00:00:00Z'),
  });
  const [task] = await knex('tasks')
    .insert({
      user_id: user.id,
      title: `${marker} ${TRICKY}`,
      description: `=HYPERLINK("http://evil.test","${marker}")`,
      tags: ['+tag', marker],
      due_date: new Date('2025-06-01T09:30:00.123Z'),
      priority: 'high',
    })
    .returning('id');
  const [plan] = await knex('daily_plans').insert({ user_id: user.id, plan_date: '2025-06-01' }).returning('id');
  await knex('daily_plan_tasks').insert({ plan_id: plan.id, task_id: task.id });
  const [routine] = await knex('daily_routines')
    .insert({ user_id: user.id, title: `${marker} routine` })
    .returning('id');
  await knex('routine_tasks').insert({ routine_id: routine.id, user_id: user.id, title: `@${marker} stretch`, position: 1 });
  await knex('goals').insert({ user_id: user.id, title: `-${marker} goal`, progress: 40, target_date: '2025-12-31' });
  await knex('reminders').insert({
    user_id: user.id,
    task_id: task.id,
    remind_at: new Date('2025-06-01T08:30:00Z'),
    message: `${marker}\tremind`,
  });
  await knex('activity_logs').insert({
    user_id: user.id,
    action: `${marker} created`,
    details: { marker, nested: { ok: true } },
  });
  await knex('performance_history').insert({
    user_id: user.id,
    date: '2025-05-31',
    score: 87.5,
    completed_count: 7,
    total_count: 8,
  });
  await knex('streaks').insert({ user_id: user.id, current: 3, longest: 9, last_activity_date: '2025-05-31' });
  await knex('push_subscriptions').insert({
    user_id: user.id,
    endpoint: `https://push.example.test/${marker}`,
    p256dh: `p256dh-secret-${marker}`,
    auth: `auth-secret-${marker}`,
  });
  return { user, taskId: task.id };
}

/** The entries of a zip file, by name. */
export async function unzip(buffer: Buffer): Promise<Record<string, Buffer>> {
  const zip = await yauzl.fromBufferPromise(buffer, { lazyEntries: true });
  const entries: Record<string, Buffer> = {};
  await new Promise<void>((resolve, reject) => {
    zip.on('error', reject);
    zip.on('end', resolve);
    zip.on('entry', (entry: yauzl.Entry) => {
      zip
        .openReadStreamPromise(entry)
        .then(async (stream) => {
          const chunks: Buffer[] = [];
          for await (const chunk of stream) chunks.push(chunk as Buffer);
          entries[entry.fileName] = Buffer.concat(chunks);
          zip.readEntry();
        })
        .catch(reject);
    });
    zip.readEntry();
  });
  return entries;
}

/** Each CSV of a zip parsed strictly (RFC 4180), header row as keys. */
export async function parseCsvZip(buffer: Buffer): Promise<Record<string, Record<string, string>[]>> {
  const files = await unzip(buffer);
  return Object.fromEntries(
    Object.entries(files).map(([name, content]) => [
      name.replace(/\.csv$/, ''),
      parse(content, { columns: true, relax_quotes: false, bom: false }),
    ]),
  );
}

/** The exported file behind a file:// download link. */
export const readFileUrl = (url: string) => fs.readFile(fileURLToPath(url));
