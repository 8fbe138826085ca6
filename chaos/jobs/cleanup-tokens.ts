import type { ChaosJob } from '../types.js';
import { countsOf, DATABASE_JOB, NOW, tally } from './support.js';

/**
 * `items` users with an expired reset token, beside controls that must keep theirs: unexpired,
 * and without an expiry. Done: token and expiry both cleared (one without the other is half-written).
 */
export const cleanupTokensChaos: ChaosJob = {
  name: 'cleanup-tokens',
  ...DATABASE_JOB,
  async world(items) {
    return {
      env: {},
      async seed(knex) {
        await knex.raw(
          `INSERT INTO users (email, password_reset_token, password_reset_expires)
           SELECT kind || '-' || i || '@example.test', md5(kind || i),
                  CASE kind WHEN 'expired' THEN :now::timestamptz - (i % 5000) * interval '1 minute' - interval '1 second'
                            WHEN 'valid' THEN :now::timestamptz + i * interval '1 minute' END
             FROM (SELECT i, 'expired' AS kind FROM generate_series(1, :items) i
                   UNION ALL SELECT i, 'valid' FROM generate_series(1, :controls) i
                   UNION ALL SELECT i, 'no-expiry' FROM generate_series(1, :controls) i) s`,
          { now: NOW, items, controls: Math.ceil(items / 10) },
        );
      },
      async check(knex) {
        const c = await countsOf(
          knex,
          `SELECT count(*) FILTER (WHERE email LIKE 'expired-%') AS expected,
                  count(*) FILTER (WHERE email LIKE 'expired-%' AND password_reset_token IS NULL AND password_reset_expires IS NULL) AS done,
                  count(*) FILTER (WHERE email LIKE 'expired-%' AND (password_reset_token IS NULL) <> (password_reset_expires IS NULL)) AS half,
                  count(*) FILTER (WHERE email NOT LIKE 'expired-%' AND password_reset_token IS NULL) AS wrong
             FROM users`,
        );
        return tally({ expected: c.expected, done: c.done, duplicates: 0, halfWritten: c.half, wrong: c.wrong });
      },
      close: async () => undefined,
    };
  },
};
