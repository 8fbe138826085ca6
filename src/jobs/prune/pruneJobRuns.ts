import type { SerializedStep } from '../../core/batches.js';
import { queryIds, sql } from '../../core/sql.js';
import { retentionCutoff } from './cutoff.js';
import type { PruneSettings } from './index.js';

/**
 * Runs that started before the cutoff are deleted, whatever their status: a run still
 * `running` after RETENTION_DAYS died without finishing. The current run is never deleted.
 */
export const pruneJobRuns = (settings: PruneSettings): SerializedStep => ({
  name: 'job_runs_deleted',
  eligible: {
    table: 'job_runs',
    where: (ctx) => sql`started_at < ${retentionCutoff(ctx.now, settings.retentionDays)} AND id <> ${ctx.runId}`,
    cursor: { column: 'started_at', type: 'timestamptz' },
    idType: 'bigint',
  },

  async apply(trx, _ctx, target) {
    return {
      done: await queryIds(trx, sql`/* planner-jobs:prune.pruneJobRuns */ DELETE FROM job_runs WHERE ${target} RETURNING id`),
    };
  },
});
