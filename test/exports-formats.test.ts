import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { HeadObjectCommand } from '@aws-sdk/client-s3';
import MarkdownIt from 'markdown-it';
import { afterAll, beforeAll, describe, expect } from 'vitest';
import { ENTITIES } from '../src/jobs/exports/entities.js';
import { csvCell } from '../src/jobs/exports/formats/csv.js';
import { cellOf } from '../src/jobs/exports/formats/format.js';
import { markdownCell } from '../src/jobs/exports/formats/markdown.js';
import { cli } from './support/cli.js';
import { test } from './support/db.js';
import { TRICKY, parseCsvZip, readFileUrl, seedPlanner, unzip } from './support/exports.js';
import { startS3, type S3Server } from './support/s3.js';

const NOW = '2025-06-01T12:00:00.000Z';
let exportDir: string;
let s3: S3Server;

beforeAll(async () => {
  exportDir = await fs.mkdtemp(path.join(os.tmpdir(), 'planner-jobs-exports-'));
  s3 = await startS3();
});
afterAll(async () => {
  await fs.rm(exportDir, { recursive: true, force: true });
  await s3.close();
});

/** `export --user` to file storage; returns the exported bytes. */
async function exportFile(url: string, userId: string, format: string): Promise<Buffer> {
  const run = await cli(['export', '--user', userId, '--format', format, '--now', NOW], {
    DATABASE_URL: url,
    EXPORT_DIR: exportDir,
  });
  expect(run.code, run.stderr).toBe(0);
  const link = run.stdout.trim().split('\n').at(-1)!;
  expect(link).toMatch(/^file:\/\//);
  return readFileUrl(link);
}

describe('exports: json is one versioned document that round-trips', () => {
  test('every entity type is an array; values come back exactly, timestamps in ISO 8601', async ({ db }) => {
    const { user, taskId } = await seedPlanner(db.knex, 'alice');
    const doc = JSON.parse((await exportFile(db.url, user.id, 'json')).toString('utf8'));

    expect(doc).toMatchObject({ format_version: 1, user_id: user.id, exported_at: expect.stringMatching(/^2025-06-01T12:00/) });
    for (const entity of ENTITIES) expect(Array.isArray(doc[entity.name]), entity.name).toBe(true);
    expect(doc.profile).toEqual([
      expect.objectContaining({
        id: user.id,
        email: 'alice@example.test',
        display_name: `alice ${TRICKY}`,
        timezone: 'Europe/Berlin',
      }),
    ]);
    const [task] = doc.tasks;
    expect(task).toMatchObject({
      id: taskId,
      title: `alice ${TRICKY}`,
      tags: ['+tag', 'alice'],
      priority: 'high',
      completed: false,
    });
    expect(new Date(task.due_date).toISOString()).toBe('2025-06-01T09:30:00.123Z');
    expect(task.due_date).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/);
    expect(doc.daily_plan_tasks).toEqual([{ plan_id: doc.daily_plans[0].id, task_id: taskId }]);
    expect(doc.activity_logs[0].details).toEqual({ marker: 'alice', nested: { ok: true } });
    expect(doc.performance_history[0]).toMatchObject({ date: '2025-05-31', score: 87.5, completed_count: 7, total_count: 8 });
    expect(doc.streak).toEqual([expect.objectContaining({ current: 3, longest: 9 })]);
    expect(doc.push_subscriptions).toEqual([{ endpoint: 'https://push.example.test/alice' }]);
    expect(Object.keys(doc.routine_tasks[0])).toEqual(ENTITIES.find((e) => e.name === 'routine_tasks')!.columns);
  });
});

describe('exports: csv is a zip of RFC 4180 files, one per entity type, formulas neutralised', () => {
  test('every file parses with a header row; quotes, commas, line breaks and Unicode survive', async ({ db }) => {
    const { user } = await seedPlanner(db.knex, 'alice');
    const files = await parseCsvZip(await exportFile(db.url, user.id, 'csv'));

    expect(Object.keys(files).sort()).toEqual(ENTITIES.map((e) => e.name).sort());
    expect(files.tasks[0].title).toBe(`alice ${TRICKY}`);
    expect(files.profile[0].display_name).toBe(`alice ${TRICKY}`);
    expect(files.tasks[0].tags).toBe('["+tag","alice"]');
    expect(JSON.parse(files.activity_logs[0].details)).toEqual({ marker: 'alice', nested: { ok: true } });
    expect(Number(files.performance_history[0].score)).toBe(87.5);
    expect(new Date(files.tasks[0].due_date).toISOString()).toBe('2025-06-01T09:30:00.123Z');
  });

  test('cells starting with = + - @ tab or CR get a leading apostrophe; numbers do not', async ({ db }) => {
    const { user } = await seedPlanner(db.knex, 'alice');
    const dangerous = ['=1+1', '+1', '-1', '@SUM(A1)', '\tx', '\rx'];
    const harmless = ['1+1', 'a=b', ' =1', "'quoted"];
    await db.knex('goals').insert([...dangerous, ...harmless].map((title) => ({ user_id: user.id, title })));
    await db.knex('activity_logs').insert({ user_id: user.id, action: 'number', details: -5 });
    const files = await parseCsvZip(await exportFile(db.url, user.id, 'csv'));

    const titles = files.goals.map((goal) => goal.title);
    for (const title of dangerous) expect(titles).toContain(`'${title}`);
    for (const title of harmless) expect(titles).toContain(title);
    expect(files.tasks[0].description).toBe(`'=HYPERLINK("http://evil.test","alice")`);
    expect(files.routine_tasks[0].title).toBe("'@alice stretch");
    expect(files.goals[0].progress).toBe('40');
    expect(files.activity_logs.find((log) => log.action === 'number')!.details).toBe('-5');
    const cells = ['-5', '"-5"', '"=a,\\"b\\""', 'null', null, '["x"]'].map((json) => csvCell(cellOf(json)));
    expect(cells).toEqual(['-5', "'-5", '"\'=a,""b"""', '', '', '"[""x""]"']);
  });

  test('an entity with no rows still has its header', async ({ db }) => {
    const { user } = await seedPlanner(db.knex, 'alice');
    await db.knex('goals').where({ user_id: user.id }).delete();
    const buffer = await exportFile(db.url, user.id, 'csv');
    const goals = (await unzip(buffer))['goals.csv'].toString('utf8');
    expect(goals).toBe(`${ENTITIES.find((e) => e.name === 'goals')!.columns.join(',')}\r\n`);
  });
});

describe('exports: markdown is readable and carries no raw HTML', () => {
  test('rendered by a Markdown parser that allows HTML, user text stays text', async ({ db }) => {
    const { user } = await seedPlanner(db.knex, 'alice');
    const markdown = (await exportFile(db.url, user.id, 'markdown')).toString('utf8');
    const html = new MarkdownIt({ html: true }).render(markdown);

    expect(html).not.toMatch(/<script|<b>/i);
    expect(html).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
    for (const entity of ENTITIES) expect(html).toContain(`<h2>${entity.title}</h2>`);
    // The tricky title stays inside one table cell of one row: the pipe and the line break are neutralised.
    const taskRow = html.split('\n').find((line) => line.includes('alice He said'))!;
    expect(taskRow).toContain('| &lt;b&gt;bold&lt;/b&gt;');
    expect(markdownCell('a|b\nc')).toBe('a\\|b ↵ c');
    expect(markdownCell('[x](javascript:alert(1)) *y* `z`')).toBe('\\[x\\]\\(javascript:alert\\(1\\)\\) \\*y\\* \\`z\\`');
  });
});

describe('exports: everything of that user and nothing of anyone else', () => {
  test("two users' exports never mix, and no secret leaves", async ({ db }) => {
    const alice = await seedPlanner(db.knex, 'alice');
    const bob = await seedPlanner(db.knex, 'bob');
    for (const format of ['json', 'csv', 'markdown']) {
      const [a, b] = await Promise.all([exportFile(db.url, alice.user.id, format), exportFile(db.url, bob.user.id, format)]);
      const text = format === 'csv' ? JSON.stringify(await parseCsvZip(a)) : a.toString('utf8');
      const other = format === 'csv' ? JSON.stringify(await parseCsvZip(b)) : b.toString('utf8');
      expect(text, format).toContain('alice');
      expect(text, format).not.toContain('bob');
      expect(text, format).not.toContain(bob.user.id);
      expect(other, format).not.toContain('alice');
      for (const secret of ['secret-token', 'p256dh-secret', 'auth-secret', 'password_reset']) {
        expect(text, format).not.toContain(secret);
      }
    }
  });
});

describe('exports: s3 storage', () => {
  test('the object is under <prefix>/<user>/<job>.<ext> with its content type and attachment name', async ({ db }) => {
    const { user } = await seedPlanner(db.knex, 'alice');
    const run = await cli(['export', '--user', user.id, '--format', 'csv', '--now', NOW], { DATABASE_URL: db.url, ...s3.env });
    expect(run.code, run.stderr).toBe(0);

    const job = await db.knex('export_jobs').where({ user_id: user.id }).first();
    expect(job).toMatchObject({ status: 'complete', object_key: `exports/${user.id}/${job.id}.zip`, attempts: 1 });
    expect(Number(job.bytes)).toBeGreaterThan(0);
    const head = await s3.client.send(new HeadObjectCommand({ Bucket: 'planner-exports', Key: job.object_key }));
    expect(head).toMatchObject({ ContentType: 'application/zip', ContentLength: Number(job.bytes) });
    expect(head.ContentDisposition).toBe(`attachment; filename="planner-export-${job.id}.zip"`);
    expect((await parseCsvZip(await s3.body(job.object_key))).tasks[0].title).toBe(`alice ${TRICKY}`);
    expect(run.stdout).toContain(job.download_url);
  });
});

describe('exports: a user’s data leaves exactly as stored, every digit (issue #14 part 5)', () => {
  test('bigint ids and jsonb numbers beyond 2^53 and with 20 decimals keep every digit in JSON, CSV and Markdown', async ({
    db,
  }) => {
    const { user } = await seedPlanner(db.knex, 'alice');
    await db.knex.raw(
      `INSERT INTO activity_logs (id, user_id, action, details)
       VALUES (9007199254740995, :user, 'order', '{"order_id": 9007199254740993, "ratio": 0.10000000000000000555}')`,
      { user: user.id },
    );
    const digits = ['9007199254740995', '9007199254740993', '0.10000000000000000555'];

    const json = (await exportFile(db.url, user.id, 'json')).toString('utf8');
    const files = await parseCsvZip(await exportFile(db.url, user.id, 'csv'));
    const markdown = (await exportFile(db.url, user.id, 'markdown')).toString('utf8');

    for (const number of digits) {
      expect(json).toContain(number);
      expect(markdown).toContain(number);
    }
    const order = files.activity_logs.find((log) => log.action === 'order')!;
    expect(order.id).toBe('9007199254740995');
    expect(order.details).toContain('9007199254740993');
    expect(order.details).toContain('0.10000000000000000555');
    expect(order.details).not.toMatch(/9007199254740992|0\.1[,}]/);
  });
});
