import type { SerializedStep } from '../../core/batches.js';
import { queryIds } from '../../core/sql.js';

/** Password-reset tokens whose expiry is in the past are cleared; unexpired ones are untouched. */
export const clearExpiredTokens: SerializedStep = {
  name: 'tokens_cleared',
  eligible: {
    table: 'users',
    where: 'password_reset_expires < :now',
    cursor: { column: 'password_reset_expires', type: 'timestamptz' },
  },

  async apply(trx, _ctx, target) {
    return {
      done: await queryIds(
        trx,
        `UPDATE users SET password_reset_token = NULL, password_reset_expires = NULL WHERE ${target.where} RETURNING id`,
        target.bindings,
      ),
    };
  },
};
