import fs from 'node:fs/promises';
import path from 'node:path';
import { DeleteObjectCommand } from '@aws-sdk/client-s3';
import { BUCKET, startS3 } from '../../test/support/s3.js';
import { RefusingProxy } from '../proxy.js';
import type { ChaosJob } from '../types.js';
import { countsOf, NOW, seedUsers, tally } from './support.js';

const TASKS_PER_USER = 200;

/**
 * `items` pending export requests (json, csv, markdown in turn), one per user with 200 tasks, into
 * s3rver behind a proxy that can refuse connections. Done: the row `complete` with its object in
 * the bucket and one `export` notification; a duplicate is a second object or notification for
 * one export.
 */
export const exportsChaos: ChaosJob = {
  name: 'exports',
  // One export at a time per run (streamed, ~0.1 s each): 10,000 would not fit the time budget.
  items: { full: 300, quick: 12 },
  batchSize: 1,
  now: NOW,
  // Past the 120-second lease and the first retry backoff.
  stepMs: 10 * 60_000,
  service: 'storage',
  async world(items) {
    const s3 = await startS3();
    const proxy = await RefusingProxy.start(s3.endpoint);
    const env: Record<string, string> = { ...s3.env, S3_ENDPOINT: proxy.url };
    let directory: { dir: string; close(): Promise<void> } | undefined;
    return {
      env,
      storage: { refuse: () => proxy.refuse(), accept: () => proxy.accept() },
      useDirectory(files) {
        directory = files;
        Object.assign(env, { EXPORT_STORAGE: 'file', EXPORT_DIR: files.dir });
      },
      async seed(knex) {
        await seedUsers(knex, items);
        await knex.raw(
          `INSERT INTO tasks (user_id, title, description, tags, due_date)
           SELECT u.id, 'Task ' || n, 'Details of task ' || n, ARRAY['chaos'], :now::timestamptz + n * interval '1 hour'
             FROM users u, generate_series(1, :tasks) n`,
          { now: NOW, tasks: TASKS_PER_USER },
        );
        await knex.raw(
          `INSERT INTO export_jobs (user_id, format, created_at)
           SELECT id, (ARRAY['json', 'csv', 'markdown'])[1 + row_number() OVER (ORDER BY email) % 3], :now FROM users`,
          { now: NOW },
        );
      },
      async check(knex) {
        const objects = new Map<string, number>();
        for (const key of directory ? await exportFiles(directory.dir) : await s3.keys()) {
          const id = path.basename(key).split('.')[0];
          objects.set(id, (objects.get(id) ?? 0) + 1);
        }
        const c = await countsOf(
          knex,
          `WITH objects AS (SELECT key AS id, value::int AS n FROM json_each_text(:objects::json)),
                notes AS (SELECT data->>'export_id' AS id, count(*) AS n FROM notifications WHERE source = 'export' GROUP BY 1),
                per_export AS (SELECT e.status, coalesce(o.n, 0) AS objects, coalesce(n.n, 0) AS notes
                                 FROM export_jobs e LEFT JOIN objects o ON o.id = e.id::text LEFT JOIN notes n ON n.id = e.id::text)
           SELECT count(*) AS expected,
                  count(*) FILTER (WHERE status = 'complete' AND objects >= 1 AND notes >= 1) AS done,
                  coalesce(sum(objects - 1) FILTER (WHERE objects > 1), 0) + coalesce(sum(notes - 1) FILTER (WHERE notes > 1), 0) AS duplicates,
                  count(*) FILTER (WHERE status = 'complete' AND (objects = 0 OR notes = 0)) AS half,
                  count(*) FILTER (WHERE status = 'failed') AS failed
             FROM per_export`,
          { objects: JSON.stringify(Object.fromEntries(objects)) },
        );
        const failures: string[] = await knex('export_jobs').where({ status: 'failed' }).distinct().pluck('error');
        return tally({
          expected: c.expected,
          done: c.done,
          duplicates: c.duplicates,
          halfWritten: c.half,
          note: failures.length ? `${c.failed} failed: ${failures.join(' / ')}` : undefined,
        });
      },
      async reset() {
        for (const key of await s3.keys()) await s3.client.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: key }));
      },
      async close() {
        await directory?.close();
        await proxy.refuse();
        await s3.close();
      },
    };
  },
};

/** The finished export files under `dir` (`<user>/<job>.<ext>`): no `.partial` leftovers, no probe. */
async function exportFiles(dir: string): Promise<string[]> {
  const entries = await fs.readdir(dir, { recursive: true, withFileTypes: true });
  return entries
    .filter((entry) => entry.isFile() && !entry.name.endsWith('.partial') && !entry.name.startsWith('.'))
    .map((entry) => path.join(entry.parentPath, entry.name));
}
