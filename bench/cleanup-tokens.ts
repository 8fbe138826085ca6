import { compareJob, type Benchmark } from './support/benchmark.js';

const NOW = '2025-06-01T12:00:00Z';
const NAIVE_SAMPLE = 20_000;

/** `rows` users, all holding an expired reset token. */
export const cleanupTokensBench: Benchmark = {
  name: 'cleanup-tokens',
  describe: ({ rows }) => `cleanup-tokens: ${rows.toLocaleString('en')} expired reset tokens`,
  async run(server, { rows }) {
    const copy = await server.seeded(async (knex) => {
      await knex.raw(
        `INSERT INTO users (email, password_reset_token, password_reset_expires)
         SELECT 'bench-' || i || '@example.test', md5(i::text), :now::timestamptz - (i % 10000) * interval '1 minute' - interval '1 second'
           FROM generate_series(1, :rows) i`,
        { rows, now: NOW },
      );
    });
    const naiveRows = Math.min(rows, NAIVE_SAMPLE);
    return compareJob(copy, {
      cli: ['cleanup-tokens', '--now', NOW, '--json'],
      floor: {
        variant: 'floor: one UPDATE statement',
        items: rows,
        compared: 'The same change as one UPDATE clearing every expired token, from this process over one connection (1 thread).',
        run: (knex) =>
          knex.raw(
            `UPDATE users SET password_reset_token = NULL, password_reset_expires = NULL WHERE password_reset_expires < :now`,
            {
              now: NOW,
            },
          ),
      },
      naive: {
        variant: 'naive: one UPDATE per row',
        items: naiveRows,
        compared: 'The ids read once, then one UPDATE per user, one after another from this process (1 thread).',
        async run(knex) {
          const ids = await knex('users').where('password_reset_expires', '<', NOW).limit(naiveRows).pluck('id');
          for (const id of ids)
            await knex('users').where({ id }).update({ password_reset_token: null, password_reset_expires: null });
        },
      },
    });
  },
};
