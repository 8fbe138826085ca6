import type { Knex } from 'knex';

// First key of the two-key advisory lock space, so our locks never collide with the API's.
const LOCK_NAMESPACE = 0x504a4f42; // 'PJOB'

/**
 * Takes the job's global lock for the current transaction only (safe behind PgBouncer in
 * transaction mode: it ends with the transaction, nothing lingers on the session).
 * Returns false at once when another run holds it.
 */
export async function tryJobLock(trx: Knex.Transaction, job: string): Promise<boolean> {
  const { rows } = await trx.raw<{ rows: { locked: boolean }[] }>(
    '/* planner-jobs:runner.jobLock */ select pg_try_advisory_xact_lock(?, hashtext(?)) as locked',
    [LOCK_NAMESPACE, `planner-jobs:${job}`],
  );
  return rows[0].locked;
}
