import type { Knex } from 'knex';
import { QUEUE_POLICIES, claimSet, leaseUntil } from '../../core/lease.js';
import { query, sql } from '../../core/sql.js';
import type { FormatName } from './formats/index.js';

/** An export this run holds: `lease_token` is its fencing token (see finish.ts); `attempt` counts its tries. */
export interface ClaimedExport {
  id: string;
  user_id: string;
  format: FormatName;
  attempt: number;
  lease_token: string;
}

/** The exports queue's lease and attempts (core/lease.ts). */
export const POLICY = QUEUE_POLICIES.exports;

/**
 * Takes the next job that is due: `pending` past its backoff, or `processing` whose lease
 * has expired (its run died or stalled). Untried jobs come before retries, oldest first, so
 * a job whose runs keep dying cannot hold the queue, and runs killed for reasons of their own
 * (a deploy, a node drained) spread over many jobs instead of using up one job's attempts.
 * A live lease is never taken; rows another run is claiming are skipped, not waited on. The
 * claim bumps `attempts` and draws a new `lease_token`, which fences the old holder.
 */
export async function claimNext(
  db: Knex | Knex.Transaction,
  now: Date,
  exclude: readonly string[],
): Promise<ClaimedExport | undefined> {
  const [claimed] = await query<ClaimedExport>(
    db,
    sql`/* planner-jobs:exports.claimNext */ UPDATE export_jobs e
        SET ${claimSet('e', leaseUntil(POLICY, now))}, started_at = ${now}
       FROM (SELECT id FROM export_jobs
              WHERE ((status = 'pending' AND (run_after IS NULL OR run_after <= ${now}))
                  OR (status = 'processing' AND (locked_until IS NULL OR locked_until <= ${now}) AND attempts < ${POLICY.maxAttempts}))
                AND id <> ALL (${exclude}::uuid[])
              ORDER BY attempts, created_at, id
              LIMIT 1
              FOR UPDATE SKIP LOCKED) due
      WHERE e.id = due.id
      RETURNING e.id, e.user_id, e.format, e.attempts AS attempt, e.lease_token`,
  );
  return claimed;
}

/**
 * A job whose lease expired on its last allowed attempt (the process died each time, e.g.
 * killed for memory) is `failed` rather than left in `processing` forever.
 */
export async function failAbandoned(db: Knex | Knex.Transaction, now: Date): Promise<string[]> {
  const rows = await query<{ id: string }>(
    db,
    sql`/* planner-jobs:exports.failAbandoned */ UPDATE export_jobs
        SET status = 'failed', locked_until = NULL,
            error = coalesce(error, 'the export stopped ' || attempts || ' times without finishing (its lease expired)')
      WHERE status = 'processing' AND (locked_until IS NULL OR locked_until <= ${now}) AND attempts >= ${POLICY.maxAttempts}
      RETURNING id`,
  );
  return rows.map((row) => row.id);
}

/**
 * `export --user`: a new job, already claimed by this run (so a concurrent `exports` run cannot
 * take it), for a user that must exist.
 */
export async function createClaimed(
  db: Knex | Knex.Transaction,
  now: Date,
  userId: string,
  format: FormatName,
): Promise<ClaimedExport | undefined> {
  const [claimed] = await query<ClaimedExport>(
    db,
    sql`/* planner-jobs:exports.createClaimed */ INSERT INTO export_jobs (user_id, format, status, attempts, started_at, locked_until, lease_token)
     SELECT id, ${format}, 'processing', 1, ${now}, ${leaseUntil(POLICY, now)}, gen_random_uuid() FROM users WHERE id = ${userId}
     RETURNING id, user_id, format, attempts AS attempt, lease_token`,
  );
  return claimed;
}

/** True when `userId` names a user (`export --user`'s input check, before its run is recorded). */
export async function userExists(db: Knex | Knex.Transaction, userId: string): Promise<boolean> {
  const rows = await query(db, sql`/* planner-jobs:exports.userExists */ SELECT 1 FROM users WHERE id = ${userId}`);
  return rows.length > 0;
}
