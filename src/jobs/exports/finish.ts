import type { Knex } from 'knex';
import { leaseUntil, nextAttemptAt, stillHeld } from '../../core/lease.js';
import { query, sql } from '../../core/sql.js';
import { POLICY, type ClaimedExport } from './claim.js';
import type { DownloadLink } from './storage/index.js';

/**
 * Every statement after the claim is fenced (core/lease.ts): it changes the row only while it is
 * still `processing` under this claim's lease token. A run whose lease expired and was taken over
 * (or whose job an operator redrove) finds zero rows and stops, so it can never overwrite the
 * newer attempt. Each statement re-checks the row and says what it found (RETURNING), so a
 * run never acts on what it believes the row holds.
 */
const fence = (job: ClaimedExport) => sql`id = ${job.id} AND ${stillHeld('export_jobs', job.lease_token)}`;

type Db = Knex | Knex.Transaction;

/** Extends the lease; false when this run no longer holds the job. */
export async function renewLease(db: Db, job: ClaimedExport, now: Date): Promise<boolean> {
  const rows = await query(
    db,
    sql`/* planner-jobs:exports.renewLease */
        UPDATE export_jobs SET locked_until = ${leaseUntil(POLICY, now)} WHERE ${fence(job)} RETURNING id`,
  );
  return rows.length === 1;
}

/**
 * `complete`, with the link, its expiry and the size, and in the same statement one
 * notification to the user (its dedupe key makes a second one impossible), due from
 * `notifyAfter` (the run's now, so a `notifications` run at the same `--now` sends it).
 */
export async function markComplete(
  db: Db,
  job: ClaimedExport,
  done: { key: string; link: DownloadLink; bytes: number; at: Date; notifyAfter: Date },
): Promise<boolean> {
  const [row] = await query<{ completed: boolean }>(
    db,
    sql`/* planner-jobs:exports.markComplete */ WITH completed AS (
       UPDATE export_jobs
          SET status = 'complete', object_key = ${done.key}, download_url = ${done.link.url}, url_expires_at = ${done.link.expiresAt},
              bytes = ${done.bytes}, completed_at = ${done.at}, locked_until = NULL, run_after = NULL, error = NULL
        WHERE ${fence(job)}
       RETURNING id, user_id, format
     ), notified AS (
       INSERT INTO notifications (user_id, title, body, url, data, channels, source, dedupe_key, run_after)
       SELECT user_id, 'Your data export is ready',
              'Your ' || upper(format) || ' export is ready to download'
                || CASE WHEN ${done.link.expiresAt}::timestamptz IS NULL THEN '.' ELSE ' until ' || to_char(${done.link.expiresAt}::timestamptz AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI "UTC"') || '.' END,
              ${done.link.url}, jsonb_build_object('export_id', id, 'format', format, 'url_expires_at', ${done.link.expiresAt}::timestamptz),
              '{web}', 'export', 'export:' || id, ${done.notifyAfter}
         FROM completed
       ON CONFLICT (dedupe_key) DO NOTHING
     )
     SELECT EXISTS (SELECT 1 FROM completed) AS completed`,
  );
  return row.completed;
}

/**
 * The attempt failed: back to `pending` after the queue's backoff (at least 1, 2, 4, 8 minutes,
 * with jitter; core/lease.ts), or `failed` after the last attempt. `error` keeps the failure's
 * own message. `random` (in [0, 1)) draws the jitter.
 */
export async function markFailedAttempt(
  db: Db,
  job: ClaimedExport,
  error: string,
  now: Date,
  random: () => number = Math.random,
): Promise<'retry' | 'failed' | 'lost'> {
  // The claim counted `job.attempt`, and the fence guarantees the row still holds that count.
  const retryAt = nextAttemptAt(POLICY, job.attempt, now, { random }) ?? null;
  const [row] = await query<{ status: 'pending' | 'failed' }>(
    db,
    sql`/* planner-jobs:exports.markFailedAttempt */ UPDATE export_jobs
        SET status = CASE WHEN ${retryAt}::timestamptz IS NULL THEN 'failed' ELSE 'pending' END,
            run_after = ${retryAt}, error = ${error}, locked_until = NULL
      WHERE ${fence(job)}
      RETURNING status`,
  );
  return row ? (row.status === 'failed' ? 'failed' : 'retry') : 'lost';
}

/**
 * Back to `pending` at once, for the next run. `charge: false` takes back the attempt the claim
 * counted: the run's fault (storage or the database unavailable or misconfigured) is never the
 * export's. Interrupted (SIGTERM), the attempt still counts, so a job whose runs keep being
 * killed cannot loop forever. False when this run no longer holds the job.
 */
export async function release(db: Db, job: ClaimedExport, { charge }: { charge: boolean }): Promise<boolean> {
  const rows = await query(
    db,
    sql`/* planner-jobs:exports.release */ UPDATE export_jobs
        SET status = 'pending', locked_until = NULL, run_after = NULL,
            attempts = CASE WHEN ${charge} THEN attempts ELSE greatest(attempts - 1, 0) END
      WHERE ${fence(job)}
      RETURNING id`,
  );
  return rows.length === 1;
}
