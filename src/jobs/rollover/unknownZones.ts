import type { Step } from '../../core/batches.js';
import { query } from '../../core/sql.js';

/**
 * Users whose stored zone PostgreSQL does not know have no local date, so no day of theirs can be
 * closed: each is set aside as a failure (logged, counted, exit 1) and left untouched.
 */
export const rejectUnknownZones = (unknown: readonly string[]): Step => ({
  name: 'unknown_zone',

  async claim(trx, _ctx, limit, exclude) {
    if (unknown.length === 0) return [];
    const rows = await query<{ id: string }>(
      trx,
      `/* planner-jobs:rollover.claimUnknownZones */ SELECT id FROM users
        WHERE timezone = ANY (:unknown::text[]) AND id <> ALL (:exclude::uuid[])
        LIMIT :limit
        FOR NO KEY UPDATE SKIP LOCKED`,
      { unknown, exclude, limit },
    );
    return rows.map((row) => row.id);
  },

  async apply(trx, _ctx, ids) {
    const sql = '/* planner-jobs:rollover.unknownZones */ SELECT id, timezone FROM users WHERE id = ANY (:ids::uuid[])';
    const users = await query<{ id: string; timezone: string }>(trx, sql, { ids });
    return {
      done: [],
      failures: users.map((user) => ({ id: user.id, reason: `unknown time zone "${user.timezone}": no day can be closed` })),
    };
  },
});
