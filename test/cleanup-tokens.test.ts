import { describe, expect } from 'vitest';
import { cli } from './support/cli.js';
import { test } from './support/db.js';
import { at, createUser, plusMs } from './support/factories.js';

const NOW = '2025-06-01T12:00:00.000Z';
const now = at(NOW);

const tokenOf = (knex: import('knex').Knex, id: string) =>
  knex('users').where({ id }).first('password_reset_token', 'password_reset_expires');

describe('cleanup-tokens: an expired token is cleared, any other is left alone', () => {
  test('expired a millisecond ago is cleared; expiring exactly now, later, or without expiry is untouched', async ({ db }) => {
    const expired = await createUser(db.knex, { password_reset_token: 'a', password_reset_expires: plusMs(now, -1) });
    const expiresNow = await createUser(db.knex, { password_reset_token: 'b', password_reset_expires: now });
    const valid = await createUser(db.knex, { password_reset_token: 'c', password_reset_expires: plusMs(now, 3600_000) });
    const noExpiry = await createUser(db.knex, { password_reset_token: 'd', password_reset_expires: null });

    const run = await cli(['cleanup-tokens', '--now', NOW, '--json'], { DATABASE_URL: db.url });

    expect(run.code).toBe(0);
    expect(run.json()).toMatchObject({ status: 'succeeded', processed: 1, counts: { tokens_cleared: 1 } });
    expect(await tokenOf(db.knex, expired.id)).toEqual({ password_reset_token: null, password_reset_expires: null });
    expect(await tokenOf(db.knex, expiresNow.id)).toEqual({ password_reset_token: 'b', password_reset_expires: now });
    expect((await tokenOf(db.knex, valid.id)).password_reset_token).toBe('c');
    expect((await tokenOf(db.knex, noExpiry.id)).password_reset_token).toBe('d');
  });
});

describe('cleanup-tokens: works in bounded batches, one run at a time', () => {
  test('five expired tokens with --batch-size 2 are cleared in three transactions', async ({ db }) => {
    for (let i = 0; i < 5; i++)
      await createUser(db.knex, { password_reset_token: `t${i}`, password_reset_expires: plusMs(now, -1000 * (i + 1)) });
    const run = await cli(['cleanup-tokens', '--now', NOW, '--batch-size', '2', '--json', '--max-runtime', '60'], {
      DATABASE_URL: db.url,
      LOG_LEVEL: 'debug',
    });

    expect(run.json()).toMatchObject({ processed: 5 });
    expect(
      run
        .logs()
        .filter((line) => line.msg === 'batch committed')
        .map((line) => line.done),
    ).toEqual([2, 2, 1]);
    expect(await db.knex('users').whereNotNull('password_reset_token').count({ n: '*' })).toEqual([{ n: '0' }]);
  });

  test('a row the API holds locked is waited for, then cleared in the same run', async ({ db }) => {
    const held = await createUser(db.knex, { password_reset_token: 'held', password_reset_expires: plusMs(now, -1000) });
    const free = await createUser(db.knex, { password_reset_token: 'free', password_reset_expires: plusMs(now, -2000) });
    const trx = await db.knex.transaction();
    await trx('users').where({ id: held.id }).forUpdate().first();
    const running = cli(['cleanup-tokens', '--now', NOW, '--json'], { DATABASE_URL: db.url });
    await new Promise((resolve) => setTimeout(resolve, 300));
    await trx.commit();

    const run = await running;
    expect(run.json()).toMatchObject({ processed: 2, ids: { tokens_cleared: expect.arrayContaining([free.id, held.id]) } });
  });
});
