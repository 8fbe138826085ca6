import type { SerializedStep } from '../../core/batches.js';
import { queryIds } from '../../core/sql.js';
import { RETENTION_CUTOFF, retentionBindings } from './cutoff.js';

/**
 * Runs that started before the cutoff are deleted, whatever their status: a run still
 * `running` after RETENTION_DAYS died without finishing. The current run is never deleted.
 */
export const pruneJobRuns: SerializedStep = {
  name: 'job_runs_deleted',
  eligible: {
    table: 'job_runs',
    where: `started_at < ${RETENTION_CUTOFF} AND id <> :runId`,
    cursor: { column: 'started_at', type: 'timestamptz' },
    idType: 'bigint',
    bindings: (ctx) => ({ ...retentionBindings(ctx), runId: ctx.runId }),
  },

  async apply(trx, _ctx, target) {
    return { done: await queryIds(trx, `DELETE FROM job_runs WHERE ${target.where} RETURNING id`, target.bindings) };
  },
};
