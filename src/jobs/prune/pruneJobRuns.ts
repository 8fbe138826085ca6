import { lockFreeStep } from '../../core/batches.js';
import { queryIds } from '../../core/sql.js';
import { RETENTION_CUTOFF, retentionBindings } from './cutoff.js';

const OLD_RUN = `started_at < ${RETENTION_CUTOFF} AND id <> :runId`;

/**
 * Runs that started before the cutoff are deleted, whatever their status: a run still
 * `running` after RETENTION_DAYS died without finishing. The current run is never deleted.
 */
export const pruneJobRuns = lockFreeStep({
  name: 'job_runs_deleted',
  eligible: {
    table: 'job_runs',
    where: OLD_RUN,
    orderBy: 'started_at',
    idType: 'bigint',
    bindings: (ctx) => ({ ...retentionBindings(ctx), runId: ctx.runId }),
  },

  async apply(trx, ctx, target) {
    return {
      done: await queryIds(trx, `DELETE FROM job_runs WHERE ${target.where} AND ${OLD_RUN} RETURNING id`, {
        ...target.bindings,
        ...retentionBindings(ctx),
        runId: ctx.runId,
      }),
    };
  },
});
