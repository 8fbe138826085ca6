import type { Knex } from 'knex';
import { describeError, isRunFault } from './errors.js';
import { tryJobLock } from './lock.js';
import { redactSecrets } from './redact.js';
import { query } from './sql.js';
import type { RunContext } from './runner.js';
import type { ItemFailure } from './tally.js';

export interface SkippedRows {
  counter: string;
  ids: string[];
}

export interface StepResult {
  /** Rows changed. */
  done: string[];
  /** Rows looked at and deliberately left alone, under their own counter (or several, one per reason). */
  skipped?: SkippedRows | SkippedRows[];
  /** Rows the statement itself set aside as bad (an unknown time zone...), never claimed again this run. */
  failures?: ItemFailure[];
  /** Side counts (notifications queued...). */
  counts?: Record<string, number>;
}

/** Claimed rows with their physical locators (`ctid`), in the same order as their ids. */
export interface Located {
  ids: string[];
  rows: string[];
}

/**
 * One kind of change a job makes, batch after batch. `claim` and `apply` share the step's
 * eligibility SQL; each is one set-based statement over the whole batch.
 */
export interface Step {
  /** The counter the changed rows go under, e.g. `marked_overdue`. */
  name: string;
  /** Up to `limit` eligible rows, none of `exclude`: their ids, or their ids and `ctid`s. */
  claim(trx: Knex.Transaction, ctx: RunContext, limit: number, exclude: readonly string[]): Promise<string[] | Located>;
  /** Makes the change for claimed rows; `rows` are their `ctid`s when the claim located them. */
  apply(trx: Knex.Transaction, ctx: RunContext, ids: readonly string[], rows?: readonly string[]): Promise<StepResult>;
  /**
   * The fast path of a lock-free step (see `lockFreeStep`): claims the next `limit` eligible rows
   * and changes them in ONE statement, so no id travels to the client and back. When it fails,
   * the batch is claimed again with `claim` and applied item by item.
   */
  applyNext?(trx: Knex.Transaction, ctx: RunContext, limit: number, exclude: readonly string[]): Promise<StepResult>;
}

/** Which rows a lock-free step works on. */
export interface Eligibility {
  table: string;
  /** The eligibility condition; `:now` and the names of `bindings` are available. */
  where: string;
  /** Oldest first, say; omit when any order will do. */
  orderBy?: string;
  bindings?: (ctx: RunContext) => Record<string, unknown>;
  /** The type of the table's `id` (default `uuid`). */
  idType?: 'uuid' | 'bigint';
}

/** `columns` of up to `:limit` eligible rows, none of `:exclude`. */
function eligibleSql(eligible: Eligibility, columns: string): string {
  return `SELECT ${columns} FROM ${eligible.table}
    WHERE (${eligible.where}) AND id <> ALL (:exclude::${eligible.idType ?? 'uuid'}[])
    ${eligible.orderBy ? `ORDER BY ${eligible.orderBy}` : ''}
    LIMIT :limit`;
}

/** The rows an apply statement changes: a SQL condition on the step's table, with its bindings. */
export interface RowTarget {
  where: string;
  bindings: Record<string, unknown>;
}

export interface LockFreeStepDefinition {
  name: string;
  eligible: Eligibility;
  /** The change, for the rows `target.where` selects; it must re-check the eligibility condition. */
  apply(trx: Knex.Transaction, ctx: RunContext, target: RowTarget): Promise<StepResult>;
}

/**
 * A step of a global job, whose runs the advisory lock already serialises: it takes no row locks
 * and finds rows by `ctid` (one heap access and one write per row, no primary-key lookups). Its
 * one apply statement serves both paths: normally it targets the next eligible rows itself
 * (`ctid = ANY (ARRAY(<claim>))`, one statement per batch, nothing travels to the client and
 * back); after a failure the batch is claimed with ids and ctids and applied one row at a time.
 * That stays correct if the API changes a row in between, because the apply re-checks the whole
 * eligibility condition: a stale ctid then matches nothing, or a row that is eligible anyway.
 */
export function lockFreeStep(definition: LockFreeStepDefinition): Step {
  const { eligible } = definition;
  const claimSql = eligibleSql(eligible, 'id, ctid::text AS row');
  const nextRows = `ctid = ANY (ARRAY(${eligibleSql(eligible, 'ctid')}))`;
  const bindings = (ctx: RunContext, limit: number, exclude: readonly string[]) => ({
    now: ctx.now,
    ...eligible.bindings?.(ctx),
    exclude,
    limit,
  });
  return {
    name: definition.name,
    async claim(trx, ctx, limit, exclude) {
      const claimed = await query<{ id: string; row: string }>(trx, claimSql, bindings(ctx, limit, exclude));
      return { ids: claimed.map((row) => row.id), rows: claimed.map((row) => row.row) };
    },
    apply(trx, ctx, _ids, rows) {
      if (!rows) throw new Error(`${definition.name}: a lock-free step applies to rows its own claim located`);
      return definition.apply(trx, ctx, { where: 'ctid = ANY (:rows::tid[])', bindings: { rows } });
    },
    applyNext: (trx, ctx, limit, exclude) =>
      definition.apply(trx, ctx, { where: nextRows, bindings: bindings(ctx, limit, exclude) }),
  };
}

/**
 * `global`: one run at a time; each batch transaction takes the job's advisory lock and the run
 * is `skipped` when another run holds it. `rows`: any number of runs share the work through
 * `SKIP LOCKED`.
 */
export type Concurrency = 'global' | 'rows';

/** What one batch's transaction did; recorded only once it has committed. */
interface Batch {
  claimed: number;
  results: StepResult[];
  failures: ItemFailure[];
}

/**
 * Works through each step in turn, one transaction per batch, until nothing eligible is left or
 * the run must stop. A batch whose statement fails is retried item by item inside the same
 * transaction (a savepoint each), so one bad row is recorded as failed and excluded while the
 * rest commit. If every item of a batch fails alike, the fault is not in the data: the run stops.
 */
export async function runSteps(ctx: RunContext, steps: readonly Step[], concurrency: Concurrency): Promise<void> {
  let batches = 0;
  for (const step of steps) {
    const exclude: string[] = [];
    let more = true;
    while (more && !ctx.shouldStop()) {
      const batch = await ctx.db.transaction(async (trx): Promise<Batch | 'locked'> => {
        if (concurrency === 'global' && !(await tryJobLock(trx, ctx.job))) return 'locked';
        const fast = step.applyNext && (await applyNext(trx, ctx, step, exclude));
        if (fast) return fast;
        const claimed = await step.claim(trx, ctx, ctx.batchSize, exclude);
        const { ids, rows } = Array.isArray(claimed) ? { ids: claimed, rows: undefined } : claimed;
        return ids.length === 0
          ? { claimed: 0, results: [], failures: [] }
          : { claimed: ids.length, ...(await applyBatch(trx, ctx, step, ids, rows)) };
      });
      if (batch === 'locked') {
        if (batches === 0) ctx.skip('another run holds the lock');
        else ctx.log.info({ step: step.name }, 'another run took the lock between batches; leaving the rest to it');
        return;
      }
      for (const result of batch.results) record(ctx, step, result);
      ctx.tally.fail(batch.failures);
      exclude.push(...batch.failures.map((failure) => failure.id));
      more = batch.claimed === ctx.batchSize;
      if (batch.claimed === 0) continue;
      batches += 1;
      const done = batch.results.reduce((sum, result) => sum + result.done.length, 0);
      ctx.log.debug({ step: step.name, claimed: batch.claimed, done, failed: batch.failures.length }, 'batch committed');
      ctx.progress(`batch ${batches} · ${ctx.tally.processed.toLocaleString('en')} processed`);
    }
  }
}

/** The one-statement batch of a lock-free step, in a savepoint; undefined when it failed (the caller then isolates). */
async function applyNext(
  trx: Knex.Transaction,
  ctx: RunContext,
  step: Step,
  exclude: readonly string[],
): Promise<Batch | undefined> {
  try {
    const result = await trx.transaction((savepoint) => step.applyNext!(savepoint, ctx, ctx.batchSize, exclude));
    const skipped = [result.skipped ?? []].flat().reduce((sum, rows) => sum + rows.ids.length, 0);
    const failures = result.failures ?? [];
    return { claimed: result.done.length + skipped + failures.length, results: [result], failures };
  } catch (batchError) {
    if (isRunFault(batchError)) throw batchError;
    ctx.log.warn({ step: step.name, err: batchError }, `${step.name}: batch failed; claiming it again to find the bad item`);
    return undefined;
  }
}

async function applyBatch(
  trx: Knex.Transaction,
  ctx: RunContext,
  step: Step,
  ids: readonly string[],
  rows: readonly string[] | undefined,
): Promise<Omit<Batch, 'claimed'>> {
  try {
    const result = await trx.transaction((savepoint) => step.apply(savepoint, ctx, ids, rows));
    return { results: [result], failures: result.failures ?? [] };
  } catch (batchError) {
    if (isRunFault(batchError)) throw batchError;
    ctx.log.warn(
      { step: step.name, err: batchError, claimed: ids.length },
      `${step.name}: batch failed; retrying its ${ids.length} item(s) one by one`,
    );
  }
  const results: StepResult[] = [];
  const failures: ItemFailure[] = [];
  let firstError: unknown;
  for (const [index, id] of ids.entries()) {
    try {
      const result = await trx.transaction((savepoint) => step.apply(savepoint, ctx, [id], rows && [rows[index]]));
      results.push(result);
      failures.push(...(result.failures ?? []));
    } catch (itemError) {
      if (isRunFault(itemError)) throw itemError;
      firstError ??= itemError;
      failures.push({ id, reason: redactSecrets(describeError(itemError)) });
    }
  }
  if (ids.length > 1 && failures.length === ids.length && firstError) {
    throw Object.assign(firstError as Error, {
      context: { step: step.name, batch_size: ids.length, first_ids: ids.slice(0, 10) },
    });
  }
  return { results, failures };
}

function record(ctx: RunContext, step: Step, result: StepResult): void {
  ctx.tally.done(step.name, result.done);
  for (const skipped of [result.skipped ?? []].flat()) ctx.tally.skip(skipped.counter, skipped.ids);
  for (const [counter, n] of Object.entries(result.counts ?? {})) ctx.tally.count(counter, n);
}
