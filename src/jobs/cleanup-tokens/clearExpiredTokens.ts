import type { SerializedStep } from '../../core/batches.js';
import { queryIds, sql } from '../../core/sql.js';

/** Password-reset tokens whose expiry is in the past are cleared; unexpired ones are untouched. */
export const clearExpiredTokens: SerializedStep = {
  name: 'tokens_cleared',
  eligible: {
    table: 'users',
    where: (ctx) => sql`password_reset_expires < ${ctx.now}`,
    cursor: { column: 'password_reset_expires', type: 'timestamptz' },
  },

  async apply(trx, _ctx, target) {
    return {
      done: await queryIds(
        trx,
        sql`/* planner-jobs:cleanup-tokens.clearExpiredTokens */
            UPDATE users SET password_reset_token = NULL, password_reset_expires = NULL WHERE ${target} RETURNING id`,
      ),
    };
  },
};
