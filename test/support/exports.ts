import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { parse } from 'csv-parse/sync';
import type { Knex } from 'knex';
import yauzl from 'yauzl';
import type { RowSource } from '../../src/jobs/exports/formats/format.js';
import { FORMATS, type FormatName } from '../../src/jobs/exports/formats/index.js';
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

const execFileAsync = promisify(execFile);
const isRoot = () => process.getuid?.() === 0;

/** A directory whose writes fail like a real fault's, and the way back. */
export interface FaultyDirectory {
  dir: string;
  /** Storage is back: writable, with room. */
  restore(): Promise<void>;
  close(): Promise<void>;
}

/**
 * A directory this process cannot write to. Root ignores permission bits, so as root it is a
 * read-only bind mount (EROFS); otherwise mode 0500 (EACCES). A string: why it cannot be made here.
 */
export async function unwritableDirectory(): Promise<(FaultyDirectory & { refuse(): Promise<void> }) | string> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'planner-jobs-unwritable-'));
  const close = () => fs.rm(dir, { recursive: true, force: true });
  if (!isRoot()) {
    await fs.chmod(dir, 0o500);
    return { dir, restore: () => fs.chmod(dir, 0o700), refuse: () => fs.chmod(dir, 0o500), close };
  }
  // Remounting read-only fails (EBUSY) while a file on it is open for writing: tried again until between two files.
  const refuse = async () => {
    for (let tries = 0; ; tries++) {
      try {
        return void (await execFileAsync('mount', ['-o', 'remount,bind,ro', dir]));
      } catch (err) {
        if (tries >= 200) throw err;
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    }
  };
  try {
    await execFileAsync('mount', ['--bind', dir, dir]);
    await refuse();
  } catch (err) {
    await execFileAsync('umount', [dir]).catch(() => undefined);
    await close();
    return `a read-only bind mount is not permitted here (${(err as Error).message.split('\n')[0]})`;
  }
  return {
    dir,
    refuse,
    restore: async () => void (await execFileAsync('mount', ['-o', 'remount,bind,rw', dir])),
    close: async () => {
      await execFileAsync('umount', [dir]).catch(() => undefined);
      await close();
    },
  };
}

/**
 * A tmpfs of `bytes`, mounted on a new directory (root only): a real full disk (ENOSPC).
 * `restore` grows it to 64 MiB. A string: why it cannot be made here.
 */
export async function smallDisk(bytes: number): Promise<FaultyDirectory | string> {
  if (!isRoot()) return 'mounting a tmpfs needs root';
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'planner-jobs-disk-'));
  try {
    await execFileAsync('mount', ['-t', 'tmpfs', '-o', `size=${bytes}`, 'tmpfs', dir]);
  } catch (err) {
    await fs.rm(dir, { recursive: true, force: true });
    return `mounting a tmpfs is not permitted here (${(err as Error).message.split('\n')[0]})`;
  }
  return {
    dir,
    restore: async () => void (await execFileAsync('mount', ['-o', 'remount,size=64m', dir])),
    close: async () => {
      await execFileAsync('umount', [dir]).catch(() => undefined);
      await fs.rm(dir, { recursive: true, force: true });
    },
  };
}

/** Fills `dir` until its file system refuses another byte. */
export async function fill(dir: string): Promise<void> {
  const file = await fs.open(path.join(dir, 'filler'), 'w');
  try {
    for (;;) await file.write(Buffer.alloc(4096, 'x'));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
  } finally {
    await file.close();
  }
}

/** Every export row as the queue sees it: status, attempts, lease. */
export const exportRows = (knex: Knex) =>
  knex('export_jobs').select('id', 'status', 'attempts', 'locked_until', 'error').orderBy('created_at').orderBy('id');

/** `n` users with `tasks` tasks each and one pending export each (json, csv, markdown in turn); their ids. */
export async function queueExports(knex: Knex, n: number, tasks = 50): Promise<string[]> {
  const users = await Promise.all(Array.from({ length: n }, () => createUser(knex)));
  await knex.raw(
    `INSERT INTO tasks (user_id, title, description)
     SELECT u, 'Task ' || i, repeat('x', 100) FROM unnest(:users::uuid[]) u, generate_series(1, :tasks) i`,
    { users: users.map((u) => u.id), tasks },
  );
  const rows = await knex('export_jobs')
    .insert(users.map((user, i) => ({ user_id: user.id, format: ['json', 'csv', 'markdown'][i % 3] })))
    .returning('id');
  return rows.map((row) => row.id as string);
}

/**
 * Makes `format` fail on one user's data the way a serializer fails on a value it cannot write,
 * after `afterRows` rows (so a cursor is mid-read), for the CLI runs of this process. The formats
 * pass PostgreSQL's text along and no stored value makes them fail any more, so this stands in
 * for one. Returns the undo.
 */
export function unserializableFor(userId: string, format: FormatName, afterRows: number): () => void {
  const original = FORMATS[format];
  const failing = (rows: RowSource): RowSource => {
    let seen = 0;
    return async function* (select) {
      for await (const row of rows(select)) {
        seen += 1;
        if (seen > afterRows) throw new TypeError(`cannot serialize the value in row ${seen}`);
        yield row;
      }
    };
  };
  FORMATS[format] = {
    ...original,
    render: (rows, header) => original.render(header.user_id === userId ? failing(rows) : rows, header),
  };
  return () => {
    FORMATS[format] = original;
  };
}
