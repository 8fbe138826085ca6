import type { Knex } from 'knex';
import { withDryRun } from '../../core/db.js';
import { query } from '../../core/sql.js';

/** The queues an operator can redrive, and what "back to pending" means for each. */
const QUEUES = {
  // Fresh attempts (the delivery policy counts them), due at once, no lease.
  notifications: {
    table: 'notifications',
    error: 'last_error',
    reset: `status = 'pending', attempts = 0, run_after = :now, locked_until = NULL`,
  },
  // Fresh attempts, no backoff, no lease, no leftovers of the failed attempt's timing. The next
  // claim draws a new lease token, so a stale holder of an old attempt can never match again.
  exports: {
    table: 'export_jobs',
    error: 'error',
    reset: `status = 'pending', attempts = 0, run_after = NULL, locked_until = NULL, lease_token = NULL, started_at = NULL, completed_at = NULL`,
  },
} as const;

export type RetryQueue = keyof typeof QUEUES;
export const RETRY_QUEUES = Object.keys(QUEUES) as RetryQueue[];

export interface Redriven {
  id: string;
  /** The error the row failed with; kept on the row until the next attempt overwrites it. */
  error: string | null;
}

/**
 * Moves failed rows of a queue (all of them, or only `ids`) back to `pending`, one UPDATE per
 * batch (each its own transaction); rows in any other status are never touched. A dry run makes
 * the same changes inside one transaction it rolls back, so it lists exactly the rows a real
 * run would move.
 */
export async function redriveFailed(
  knex: Knex,
  queue: RetryQueue,
  options: { now: Date; ids?: readonly string[]; batchSize: number; dryRun: boolean },
): Promise<Redriven[]> {
  const { table, error, reset } = QUEUES[queue];
  return withDryRun(knex, options.dryRun, async (db) => {
    const moved: Redriven[] = [];
    for (;;) {
      const batch = await query<Redriven>(
        db,
        `/* planner-jobs:retry.redrive */ WITH picked AS (
           SELECT id FROM ${table}
            WHERE status = 'failed' AND (:all OR id = ANY (:ids::uuid[]))
            ORDER BY id
            LIMIT :limit
            FOR UPDATE SKIP LOCKED
         )
         UPDATE ${table} AS t SET ${reset}
           FROM picked WHERE t.id = picked.id
         RETURNING t.id, t.${error} AS error`,
        { all: options.ids === undefined, ids: options.ids ?? [], limit: options.batchSize, now: options.now },
      );
      moved.push(...batch);
      if (batch.length < options.batchSize) return moved;
    }
  });
}
