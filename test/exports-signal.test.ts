import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect } from 'vitest';
import { spawnCli } from './support/cli.js';
import { test } from './support/db.js';
import { createUser } from './support/factories.js';
import { startS3, type S3Server } from './support/s3.js';

let s3: S3Server;
let exportDir: string;

beforeAll(async () => {
  s3 = await startS3();
  exportDir = await fs.mkdtemp(path.join(os.tmpdir(), 'planner-jobs-exports-'));
});
afterAll(async () => {
  await s3.close();
  await fs.rm(exportDir, { recursive: true, force: true });
});

const filesUnder = async (dir: string) =>
  (await fs.readdir(dir, { recursive: true, withFileTypes: true })).filter((e) => e.isFile());

// Needs the build (`npx tsc -p tsconfig.build.json`): the real binary, a real SIGTERM.
describe('exports: SIGTERM mid-export releases the job cleanly', () => {
  for (const storage of ['file', 's3'] as const) {
    test(`${storage}: the job goes back to pending, nothing half-written is left, the run says interrupted`, async ({ db }) => {
      const user = await createUser(db.knex);
      // Enough rows that the export is still streaming when the signal arrives.
      await db.knex.raw(
        `INSERT INTO tasks (user_id, title, description) SELECT :id, 'Task ' || i, repeat('x', 200) FROM generate_series(1, 300000) i`,
        { id: user.id },
      );
      // json for s3: uncompressed, so the upload is multipart and several parts are in flight when the signal lands.
      const [job] = await db
        .knex('export_jobs')
        .insert({ user_id: user.id, format: storage === 's3' ? 'json' : 'csv' })
        .returning('id');
      const env = storage === 's3' ? s3.env : { EXPORT_DIR: exportDir };
      const run = spawnCli(['exports', '--json'], { DATABASE_URL: db.url, ...env });

      await run.waitFor(`export ${job.id} started`);
      await new Promise((resolve) => setTimeout(resolve, 300));
      run.child.kill('SIGTERM');
      const result = await run.done;

      expect(result.code).toBe(1);
      expect(result.json()).toMatchObject({ status: 'failed', reason: 'interrupted', counts: { released: 1 } });
      expect(await db.knex('export_jobs').where({ id: job.id }).first()).toMatchObject({
        status: 'pending',
        attempts: 1,
        locked_until: null,
        download_url: null,
      });
      if (storage === 's3') expect(await s3.keys(`exports/${user.id}/`)).toEqual([]);
      else expect(await filesUnder(exportDir)).toEqual([]);
    });
  }
});
