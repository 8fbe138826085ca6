import { lockFreeStep } from '../../core/batches.js';
import { queryIds } from '../../core/sql.js';

const EXPIRED = 'password_reset_expires < :now';

/** Password-reset tokens whose expiry is in the past are cleared; unexpired ones are untouched. */
export const clearExpiredTokens = lockFreeStep({
  name: 'tokens_cleared',
  eligible: { table: 'users', where: EXPIRED, orderBy: 'password_reset_expires' },

  async apply(trx, ctx, target) {
    return {
      done: await queryIds(
        trx,
        `UPDATE users SET password_reset_token = NULL, password_reset_expires = NULL
          WHERE ${target.where} AND ${EXPIRED}
          RETURNING id`,
        { ...target.bindings, now: ctx.now },
      ),
    };
  },
});
