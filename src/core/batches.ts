import type { Knex } from 'knex';
import { describeError, isRunFault } from './errors.js';
import { tryJobLock } from './lock.js';
import { redactSecrets } from './redact.js';
import { Sql, query, sql } from './sql.js';
import type { RunContext } from './runner.js';
import type { Counter, ItemFailure } from './tally.js';

export interface LeftAloneRows {
  counter: Counter;
  ids: string[];
}

/** Changed rows counted in SQL, with the first of their ids: a batch of thousands need not send every id back. */
export interface CountedRows {
  count: number;
  /** At most `ID_SAMPLE_LIMIT` (src/core/tally.ts) ids: what job_runs keeps anyway. */
  sample: string[];
}

export interface StepResult {
  /** Rows changed: their ids, or their count and a sample of their ids. */
  done: string[] | CountedRows;
  /** Rows looked at and deliberately left alone, under their own counter (or several, one per reason). */
  leftAlone?: LeftAloneRows | LeftAloneRows[];
  /** Rows the statement itself set aside as bad (an unknown time zone...): failed and parked. */
  failures?: ItemFailure[];
  /** Side counts (notifications queued...). */
  counts?: Partial<Record<Counter, number>>;
}

/**
 * A step of a job whose runs share the work row by row: `claim` locks the rows it returns
 * (`FOR UPDATE SKIP LOCKED`), so overlapping runs never take the same row, and `apply` makes the
 * change for them in one set-based statement.
 */
export interface Step {
  /** The counter the changed rows go under, e.g. `instances_created`. */
  name: Counter;
  /** Up to `limit` eligible rows, none of `exclude` (rows failed or parked): their ids. */
  claim(trx: Knex.Transaction, ctx: RunContext, limit: number, exclude: readonly string[]): Promise<string[]>;
  /** Makes the change for the claimed rows. */
  apply(trx: Knex.Transaction, ctx: RunContext, ids: readonly string[]): Promise<StepResult>;
}

/** Which rows a serialized step works on, and in which order. */
export interface Eligibility {
  table: string;
  /** The eligibility condition, with its values (the run's now, a setting...). */
  where: (ctx: RunContext) => Sql;
  /**
   * The claim order, and its keyset cursor: each claim continues from the last key the previous
   * one reached (`>=`, so rows sharing that key are not lost) instead of reading the index again
   * from its start, over the entries of rows this run already changed. Those stay in the index
   * until vacuum, and while another session holds a snapshot vacuum cannot remove them. A
   * non-null column of the table with an index whose predicate is the eligibility condition.
   * A row that becomes eligible behind the cursor during the run is the next run's.
   */
  cursor: { column: string; type: 'timestamptz' | 'uuid' | 'bigint' };
  /** The type of the table's `id` (default `uuid`). */
  idType?: 'uuid' | 'bigint';
}

/**
 * A serialized, ctid-targeted step: a step of a job whose runs the advisory lock serialises
 * (`runSteps(..., 'serialized')`). It takes no row locks and names rows by `ctid` (one heap
 * access and one write per row, no primary-key lookups). The mechanism claims each batch
 * (`eligible`, with its cursor) and hands `apply` a target that already re-checks the whole
 * eligibility condition: `ctid = ANY (<claimed>) AND (<eligible.where>)`, a fragment that carries
 * the condition's values. So a row the API changed since the claim is simply not matched (a stale
 * ctid names nothing, or a row that is eligible anyway), and no apply can forget the re-check.
 */
export interface SerializedStep {
  /** The counter the changed rows go under, e.g. `marked_overdue`. */
  name: Counter;
  eligible: Eligibility;
  /** The change, as one statement over `WHERE ${target}` (the claimed rows, still eligible). */
  apply(trx: Knex.Transaction, ctx: RunContext, target: Sql): Promise<StepResult>;
}

/**
 * How a job's runs share its work, declared once per job by the call to `runSteps`:
 * `serialized`: one run at a time; each batch transaction takes the job's advisory lock and the
 * run is `skipped` when another run holds it; its steps are `SerializedStep`s.
 * `rows`: any number of runs share the work through `SKIP LOCKED`; its steps are `Step`s.
 */
export type Concurrency = 'serialized' | 'rows';

/** A claimed batch, ready to apply at once or, after a failure, item by item. */
interface ClaimedBatch {
  count: number;
  apply(trx: Knex.Transaction): Promise<StepResult>;
  /** The claimed rows one at a time, with their ids. */
  items(trx: Knex.Transaction): Promise<{ id: string; apply(trx: Knex.Transaction): Promise<StepResult> }[]>;
}

/** A step as the batch loop drives it, whatever its kind. */
interface Driver {
  name: Counter;
  claim(trx: Knex.Transaction, limit: number, exclude: readonly string[]): Promise<ClaimedBatch>;
}

/** What one batch's transaction did; recorded only once it has committed. */
interface Batch {
  claimed: number;
  /** How long the claim statement took, in milliseconds (the debug line's `claimMs`). */
  claimMs?: number;
  results: StepResult[];
  failures: ItemFailure[];
  /** Rows parked by this batch. */
  parked: number;
  /** Every item failed alike, with an error other than a data exception: the rows' fault, or the step's. */
  alike?: { error: unknown; failures: ItemFailure[]; parkable: ItemFailure[] };
}

/** How long a parked row is left out of the claims before it is tried again. */
const PARKED_FOR = '24 hours';

/**
 * Works through each step in turn, one transaction per batch, until nothing eligible is left or
 * the run must stop.
 *
 * A batch whose statement fails is retried item by item inside the same transaction (a
 * savepoint each), so a bad row fails alone and the rest commit. The rows that fail are left out
 * of the rest of the run, and rows that failed because of their own data are parked
 * (`parked_items`, with their reason): every run leaves them out for `PARKED_FOR`, so one bad row
 * costs one failure (exit 1 once), never a failure in every run, and never blocks the rows
 * behind it. The run stops instead, parking nothing, when the fault is not in the data:
 * - an error whose SQLSTATE class says so (`SYSTEMIC_CLASSES`: a missing function, a privilege);
 * - every item of a batch failing alike (same SQLSTATE, other than a data exception, e.g. a
 *   trigger refusing rows), when nothing of the step has succeeded in the run: at the step's
 *   end, or at once when a second batch fails the same way. Once a row of the step succeeds,
 *   such rows were the rows' own fault after all: failed and parked at the step's end.
 *
 * @param concurrency declared once by the job; the overloads tie it to its steps' kind.
 * @throws the systemic error, with `context` (step, batch size, first ids): exit 1; an
 *   unavailable database is rethrown as it is (exit 75).
 */
export function runSteps(ctx: RunContext, steps: readonly Step[], concurrency: 'rows'): Promise<void>;
export function runSteps(ctx: RunContext, steps: readonly SerializedStep[], concurrency: 'serialized'): Promise<void>;
export async function runSteps(
  ctx: RunContext,
  steps: readonly (Step | SerializedStep)[],
  concurrency: Concurrency,
): Promise<void> {
  const drivers =
    concurrency === 'serialized'
      ? (steps as SerializedStep[]).map((step) => serializedDriver(step, ctx))
      : (steps as Step[]).map((step) => rowsDriver(step, ctx));
  const parked = await stillParked(ctx);
  const progress = { batches: 0 };
  for (const step of drivers) {
    if ((await runStep(ctx, step, concurrency, parked, progress)) === 'locked') return;
  }
}

/** One step's batches; 'locked' when another run holds the job's lock. */
async function runStep(
  ctx: RunContext,
  step: Driver,
  concurrency: Concurrency,
  parked: readonly string[],
  progress: { batches: number },
): Promise<'locked' | undefined> {
  const exclude = [...parked];
  let succeeded = false;
  const suspects: NonNullable<Batch['alike']>[] = [];
  let more = true;
  while (more && !ctx.shouldStop()) {
    const batch = await ctx.db.transaction(async (trx): Promise<Batch | 'locked'> => {
      if (concurrency === 'serialized' && !(await tryJobLock(trx, ctx.job))) return 'locked';
      const started = performance.now();
      const claimed = await step.claim(trx, ctx.batchSize, exclude);
      const claimMs = Math.round((performance.now() - started) * 100) / 100;
      if (claimed.count === 0) return { claimed: 0, claimMs, results: [], failures: [], parked: 0 };
      const applied = await applyBatch(trx, ctx, step.name, claimed);
      if (applied.alike) return { claimed: claimed.count, claimMs, results: [], failures: [], parked: 0, alike: applied.alike };
      await park(trx, ctx, step.name, applied.parkable);
      return { claimed: claimed.count, claimMs, ...applied, parked: applied.parkable.length };
    });
    if (batch === 'locked') {
      if (progress.batches === 0) ctx.skipRun('another run holds the lock');
      else ctx.log.info({ step: step.name }, 'another run took the lock between batches; leaving the rest to it');
      ctx.tally.fail(suspects.flatMap((suspect) => suspect.failures));
      return 'locked';
    }
    if (batch.alike) {
      if (!succeeded && suspects.length > 0) throw inContext(batch.alike.error, step.name, batch.claimed, batch.alike.failures);
      suspects.push(batch.alike);
    }
    for (const result of batch.results) record(ctx, step.name, result);
    succeeded ||= batch.results.length > 0;
    ctx.tally.fail(batch.failures);
    ctx.tally.count('parked', batch.parked);
    exclude.push(...[...batch.failures, ...(batch.alike?.failures ?? [])].map((failure) => failure.id));
    more = batch.claimed === ctx.batchSize;
    if (batch.claimed === 0) continue;
    progress.batches += 1;
    const done = batch.results.reduce((sum, result) => sum + changed(result).count, 0);
    ctx.log.debug(
      { step: step.name, claimed: batch.claimed, claimMs: batch.claimMs, done, failed: batch.failures.length },
      'batch committed',
    );
    ctx.progress(`batch ${progress.batches} · ${ctx.tally.processed.toLocaleString('en')} processed`);
  }
  if (suspects.length === 0) return undefined;
  const [first] = suspects;
  if (!succeeded) throw inContext(first.error, step.name, first.failures.length, first.failures);
  ctx.tally.fail(suspects.flatMap((suspect) => suspect.failures));
  const parkable = suspects.flatMap((suspect) => suspect.parkable);
  await ctx.db.transaction((trx) => park(trx, ctx, step.name, parkable));
  ctx.tally.count('parked', parkable.length);
  return undefined;
}

function rowsDriver(step: Step, ctx: RunContext): Driver {
  const batchOf = (ids: readonly string[]): ClaimedBatch => ({
    count: ids.length,
    apply: (trx) => step.apply(trx, ctx, ids),
    items: async () => ids.map((id) => ({ id, apply: (trx: Knex.Transaction) => step.apply(trx, ctx, [id]) })),
  });
  return { name: step.name, claim: async (trx, limit, exclude) => batchOf(await step.claim(trx, ctx, limit, exclude)) };
}

/**
 * The claim of a serialized step: the batch's ctids, as one `tid[]` literal that goes back
 * unparsed into the apply (no per-row work in Node), and the cursor's last key, as text so that
 * it goes back exactly (a JavaScript Date would drop the microseconds).
 */
function serializedDriver(step: SerializedStep, ctx: RunContext): Driver {
  const { table, cursor, idType = 'uuid' } = step.eligible;
  const [from, key, keyType, ids] = [table, cursor.column, cursor.type, `${idType}[]`].map(Sql.text);
  const where = step.eligible.where(ctx);
  const target = (rows: string) => sql`ctid = ANY (${rows}::tid[]) AND (${where})`;
  const named = (statement: string) => Sql.text(`/* planner-jobs:${ctx.job}.${step.name}.${statement} */`);
  const batchOf = (count: number, rows: string): ClaimedBatch => ({
    count,
    apply: (trx) => step.apply(trx, ctx, target(rows)),
    async items(trx) {
      const located = await query<{ id: string; row: string }>(
        trx,
        sql`${named('locate')} SELECT id::text AS id, ctid::text AS row FROM ${from} WHERE ctid = ANY (${rows}::tid[])`,
      );
      return located.map(({ id, row }) => ({
        id,
        apply: (itemTrx: Knex.Transaction) => step.apply(itemTrx, ctx, target(`{"${row}"}`)),
      }));
    },
  });
  let after: string | undefined;
  return {
    name: step.name,
    async claim(trx, limit, exclude) {
      const [claimed] = await query<{ count: number; rows: string; last: string | null }>(
        trx,
        sql`${named('claim')}
         WITH claimed AS MATERIALIZED (
           SELECT ctid AS row, ${key} AS key FROM ${from}
            WHERE (${where}) AND id <> ALL (${exclude}::${ids})
              ${after === undefined ? Sql.text('') : sql`AND ${key} >= ${after}::${keyType}`}
            ORDER BY ${key}
            LIMIT ${limit})
         SELECT count(*)::int AS count, coalesce(array_agg(row)::text, '{}') AS rows,
                (SELECT key FROM claimed ORDER BY key DESC LIMIT 1)::text AS last
           FROM claimed`,
      );
      after = claimed.last ?? after;
      return batchOf(claimed.count, claimed.rows);
    },
  };
}

/** The batch in one statement; after a failure, item by item. `parkable`: the failures that are the rows' own. */
async function applyBatch(
  trx: Knex.Transaction,
  ctx: RunContext,
  step: string,
  batch: ClaimedBatch,
): Promise<Pick<Batch, 'results' | 'failures' | 'alike'> & { parkable: ItemFailure[] }> {
  try {
    const result = await trx.transaction((savepoint) => batch.apply(savepoint));
    return { results: [result], failures: result.failures ?? [], parkable: result.failures ?? [] };
  } catch (batchError) {
    if (isRunFault(batchError)) throw batchError;
    if (faultOf(batchError) === 'systemic') throw inContext(batchError, step, batch.count);
    ctx.log.warn(
      { step, claimed: batch.count, reason: reasonOf(batchError) },
      `${step}: batch failed (${reasonOf(batchError)}); retrying its ${batch.count} item(s) one by one`,
    );
    ctx.log.debug({ step, err: batchError }, `${step}: the batch's error`);
  }
  const items = await batch.items(trx);
  const results: StepResult[] = [];
  const failures: ItemFailure[] = [];
  const parkable: ItemFailure[] = [];
  const errors: unknown[] = [];
  for (const item of items) {
    try {
      const result = await trx.transaction((savepoint) => item.apply(savepoint));
      results.push(result);
      failures.push(...(result.failures ?? []));
      parkable.push(...(result.failures ?? []));
    } catch (itemError) {
      if (isRunFault(itemError)) throw itemError;
      const fault = faultOf(itemError);
      if (fault === 'systemic') throw inContext(itemError, step, items.length, [{ id: item.id }]);
      errors.push(itemError);
      const failure = { id: item.id, reason: reasonOf(itemError) };
      failures.push(failure);
      if (fault === 'item') parkable.push(failure);
    }
  }
  if (items.length > 1 && errors.length === items.length && alike(errors) && !isDataException(errors[0])) {
    return { results: [], failures: [], parkable: [], alike: { error: errors[0], failures, parkable } };
  }
  return { results, failures, parkable };
}

const sqlState = (err: unknown): string | undefined => {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) ? code : undefined;
};

// SQLSTATE classes (PostgreSQL, Appendix A) that say nothing about a row: the statement, the
// schema, the privileges, the server. Any item would fail the same way, so the run stops.
const SYSTEMIC_CLASSES = new Set(['0A', '25', '28', '3D', '3F', '42', '53', '58', 'F0', 'XX']);
// Classes that point at the row itself: a value the database cannot compute with (22), a
// constraint or a trigger refusing this row (23, P0).
const ITEM_CLASSES = new Set(['22', '23', 'P0']);

/** Whose fault a failed statement is: the row's (`item`, parked), nobody's for sure (`other`: failed, not parked), or the run's. */
function faultOf(err: unknown): 'item' | 'systemic' | 'other' {
  const code = sqlState(err);
  if (code && SYSTEMIC_CLASSES.has(code.slice(0, 2))) return 'systemic';
  return code && ITEM_CLASSES.has(code.slice(0, 2)) ? 'item' : 'other';
}

/** A data exception comes from a row's own values (a date out of range), however many rows share the fault. */
const isDataException = (err: unknown) => sqlState(err)?.startsWith('22') === true;

/** The same SQLSTATE for every item (the messages may differ: they often name the row). */
const alike = (errors: unknown[]) => errors.every((err) => sqlState(err) === sqlState(errors[0]));

/** One short line for a log, a summary and job_runs: the error's message (never a statement) and its SQLSTATE. */
function reasonOf(err: unknown): string {
  const line = describeError(err).split('\n', 1)[0];
  return redactSecrets(line.length > 200 ? `${line.slice(0, 199)}…` : line);
}

/** The error that stops the run, with where it happened (job_runs.details.error.context). */
function inContext(err: unknown, step: string, batchSize: number, items: readonly { id: string }[] = []): unknown {
  if (!(err instanceof Error)) return err;
  const firstIds = items.slice(0, 10).map((item) => item.id);
  return Object.assign(err, { context: { step, batch_size: batchSize, ...(firstIds.length > 0 && { first_ids: firstIds }) } });
}

/** The rows parked by earlier runs and not yet due for another try: left out of every claim of this run. */
async function stillParked(ctx: RunContext): Promise<string[]> {
  const rows = await query<{ item_id: string }>(
    ctx.db,
    '/* planner-jobs:batches.stillParked */ SELECT item_id FROM parked_items WHERE job = :job AND retry_after > :now',
    {
      job: ctx.job,
      now: ctx.now,
    },
  );
  if (rows.length > 0) {
    ctx.tally.count('still_parked', rows.length);
    ctx.log.info({ parked: rows.length }, `${ctx.job}: ${rows.length} parked item(s) left out (see parked_items)`);
  }
  return rows.map((row) => row.item_id);
}

/** Parks rows that failed because of their own data, in the batch's transaction: only a batch that commits parks anything. */
async function park(trx: Knex.Transaction, ctx: RunContext, step: string, failures: readonly ItemFailure[]): Promise<void> {
  if (failures.length === 0) return;
  await query(
    trx,
    `/* planner-jobs:batches.park */ INSERT INTO parked_items (job, item_id, step, reason, parked_at, retry_after, run_id)
     SELECT :job, failed.id, :step, failed.reason, :now, :now::timestamptz + interval '${PARKED_FOR}', :runId
       FROM unnest(:ids::text[], :reasons::text[]) AS failed (id, reason)
     ON CONFLICT (job, item_id) DO UPDATE
       SET step = excluded.step, reason = excluded.reason, parked_at = excluded.parked_at,
           retry_after = excluded.retry_after, run_id = excluded.run_id`,
    {
      job: ctx.job,
      step,
      now: ctx.now,
      runId: ctx.runId,
      ids: failures.map((failure) => failure.id),
      reasons: failures.map((failure) => failure.reason),
    },
  );
}

const changed = (result: StepResult): CountedRows =>
  Array.isArray(result.done) ? { count: result.done.length, sample: result.done } : result.done;

function record(ctx: RunContext, step: Counter, result: StepResult): void {
  const { count, sample } = changed(result);
  ctx.tally.done(step, sample, count);
  for (const rows of [result.leftAlone ?? []].flat()) ctx.tally.leaveAlone(rows.counter, rows.ids);
  for (const [counter, n] of Object.entries(result.counts ?? {}) as [Counter, number][]) ctx.tally.count(counter, n);
}
