import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Knex } from 'knex';
import { describe, expect } from 'vitest';
import { createKnex } from '../src/core/db.js';
import { SnapshotReader } from '../src/jobs/exports/rows.js';
import { cli } from './support/cli.js';
import { test } from './support/db.js';
import { exportRows, queueExports, unserializableFor } from './support/exports.js';
import { createUser } from './support/factories.js';

/** `work`, or a rejection naming the hang when it has not settled within `ms`. */
const within = <T>(ms: number, work: Promise<T>) =>
  Promise.race([work, sleep(ms).then(() => Promise.reject(new Error(`still waiting after ${ms} ms`)))]);

const TASKS = `SELECT row_to_json(t)::text FROM tasks t WHERE t.user_id = :userId ORDER BY t.created_at, t.id`;

/** Backends of this database serving `application`, by pid. */
const backends = async (knex: Knex, application: string) =>
  (
    await knex.raw<{ rows: { pid: number }[] }>(
      'SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND application_name = ?',
      [application],
    )
  ).rows.map((row) => row.pid);

async function userWithTasks(knex: Knex, tasks: number) {
  const user = await createUser(knex);
  await knex.raw(`INSERT INTO tasks (user_id, title) SELECT :user, 'Task ' || n FROM generate_series(1, :tasks) n`, {
    user: user.id,
    tasks,
  });
  return user;
}

describe('exports: a database connection lost mid-export fails the export, it never waits forever', () => {
  test('the cursor is paused (storage is slow) when its connection is terminated: reading rejects at once', async ({ db }) => {
    const user = await userWithTasks(db.knex, 20000);
    const knex = createKnex(db.url, 'planner-jobs:test-export');
    const reader = new SnapshotReader(knex);
    try {
      const reading = reader.read(user.id, async (rows) => {
        let read = 0;
        for await (const _row of rows(TASKS)) {
          read += 1;
          if (read === 1) {
            const [pid] = await backends(db.knex, 'planner-jobs:test-export');
            await db.knex.raw('SELECT pg_terminate_backend(?)', [pid]);
            await sleep(300); // the stream stays paused while the connection goes
          }
        }
      });
      await expect(within(10_000, reading)).rejects.toThrow(/connection|terminat/i);
    } finally {
      await reader.close();
      await knex.destroy();
    }
  });
});

describe('exports: a cursor aborted mid-read never leaves its connection in use', () => {
  test('its backend is gone after the failed read; the next read runs on a new one and gets its own rows', async ({ db }) => {
    const user = await userWithTasks(db.knex, 5000);
    const other = await userWithTasks(db.knex, 3);
    const knex = createKnex(db.url, 'planner-jobs:test-abort');
    const reader = new SnapshotReader(knex);
    try {
      let first: number[] = [];
      const failing = reader.read(user.id, async (rows) => {
        let read = 0;
        for await (const _row of rows(TASKS)) {
          read += 1;
          // Mid-read: the cursor has more batches to fetch, one of them is likely in flight.
          if (read === 2500) {
            first = await backends(db.knex, 'planner-jobs:test-abort');
            throw new TypeError('cannot serialize this value');
          }
        }
      });
      await expect(failing).rejects.toThrow('cannot serialize this value');
      expect(first).toHaveLength(1);
      expect(await backends(db.knex, 'planner-jobs:test-abort')).toEqual([]);

      const rows = await reader.read(other.id, async (source) => {
        const seen: string[] = [];
        for await (const [json] of source(TASKS)) seen.push(JSON.parse(json!).user_id);
        return seen;
      });
      expect(rows).toEqual([other.id, other.id, other.id]);
      const second = await backends(db.knex, 'planner-jobs:test-abort');
      expect(second).toHaveLength(1);
      expect(second[0]).not.toBe(first[0]);
    } finally {
      await reader.close();
      await knex.destroy();
    }
  });

  test('4 exports, one failing mid-read on its own data: that one fails alone, the others complete, no crossed results', async ({
    db,
  }) => {
    const ids = await queueExports(db.knex, 4, 5000);
    const jobs = await db.knex('export_jobs').whereIn('id', ids).orderBy('created_at').orderBy('id');
    const bad = jobs[1];
    const undo = unserializableFor(bad.user_id, bad.format, 2500);
    const exportDir = await fs.mkdtemp(path.join(os.tmpdir(), 'planner-jobs-exports-'));
    try {
      const run = await cli(['exports', '--json'], { DATABASE_URL: db.url, EXPORT_STORAGE: 'file', EXPORT_DIR: exportDir });

      expect(run.code, run.stderr).toBe(1);
      expect(run.json()).toMatchObject({
        status: 'failed',
        processed: 3,
        failed: 1,
        counts: { exported: 3, retry_scheduled: 1 },
      });
      expect(run.stderr).not.toMatch(/unexpected|Cannot read properties/i);
      for (const row of await exportRows(db.knex)) {
        if (row.id === bad.id)
          expect(row).toMatchObject({ status: 'pending', attempts: 1, error: expect.stringMatching(/cannot serialize/) });
        else expect(row).toMatchObject({ status: 'complete', attempts: 1, error: null });
      }
    } finally {
      undo();
      await fs.rm(exportDir, { recursive: true, force: true });
    }
  });
});
