import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect } from 'vitest';
import { createKnex } from '../src/core/db.js';
import { userRows } from '../src/jobs/exports/rows.js';
import { test } from './support/db.js';
import { createUser } from './support/factories.js';

/** `work`, or a rejection naming the hang when it has not settled within `ms`. */
const within = <T>(ms: number, work: Promise<T>) =>
  Promise.race([work, sleep(ms).then(() => Promise.reject(new Error(`still waiting after ${ms} ms`)))]);

describe('exports: a database connection lost mid-export fails the export, it never waits forever', () => {
  test('the cursor is paused (storage is slow) when its connection is terminated: reading rejects at once', async ({ db }) => {
    const user = await createUser(db.knex);
    await db.knex.raw(`INSERT INTO tasks (user_id, title) SELECT :user, 'Task ' || n FROM generate_series(1, 20000) n`, {
      user: user.id,
    });
    const knex = createKnex(db.url, 'planner-jobs:test-export');
    try {
      const reading = knex.transaction(async (trx) => {
        const [{ pid }] = (await trx.raw('SELECT pg_backend_pid() AS pid')).rows;
        let read = 0;
        for await (const _json of userRows(trx, user.id).rows(
          `SELECT row_to_json(t)::text FROM tasks t WHERE t.user_id = :userId`,
        )) {
          read += 1;
          if (read === 1) {
            await db.knex.raw('SELECT pg_terminate_backend(?)', [pid]);
            await sleep(300); // the stream stays paused while the connection goes
          }
        }
      });
      await expect(within(10_000, reading)).rejects.toThrow(/connection/i);
    } finally {
      await knex.destroy();
    }
  });
});
