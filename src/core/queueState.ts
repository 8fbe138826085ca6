import type { Knex } from 'knex';
import type { JobName } from './catalog.js';
import type { QueueState } from './metrics.js';
import { query } from './sql.js';

/** The queue table each queue job works through; the other jobs have no queue to report. */
const QUEUE_TABLES: Partial<Record<JobName, 'notifications' | 'export_jobs'>> = {
  notifications: 'notifications',
  exports: 'export_jobs',
};

/**
 * The queue's depth and the wait of its oldest due row, on the database's clock. Only the
 * `pending` and `processing` rows are read, which the tables' partial indexes cover, so the
 * cost does not grow with the sent or completed history. Undefined for a job without a queue.
 */
export async function readQueueState(knex: Knex, job: JobName): Promise<QueueState | undefined> {
  const table = QUEUE_TABLES[job];
  if (!table) return undefined;
  const [row] = await query<{ pending: string; processing: string; oldest_due_age_seconds: number | null }>(
    knex,
    `/* planner-jobs:monitoring.queueState */ SELECT count(*) FILTER (WHERE status = 'pending') AS pending,
            count(*) FILTER (WHERE status = 'processing') AS processing,
            extract(epoch FROM clock_timestamp() - min(coalesce(run_after, created_at))
                    FILTER (WHERE status = 'pending' AND coalesce(run_after, created_at) <= clock_timestamp()))::float8
              AS oldest_due_age_seconds
       FROM ${table}
      WHERE status IN ('pending', 'processing')`,
  );
  return {
    items: { pending: Number(row.pending), processing: Number(row.processing) },
    oldestDueAgeSeconds: Math.max(0, row.oldest_due_age_seconds ?? 0),
  };
}
