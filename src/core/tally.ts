/**
 * Every counter a run can report (the summary's `counts` and `ids`, job_runs.details, the
 * metrics): one list, so each name can be found where it is counted, and a misspelt one does
 * not compile.
 */
export const COUNTERS = [
  // batches.ts, for every serialized or row-locking job
  'parked',
  'still_parked',
  // recurring
  'instances_created',
  'already_had_next_instance',
  'reminders_carried',
  // reminders
  'queued',
  'skipped',
  'expired',
  'notifications_queued',
  // notifications: per notification, then per delivery (channel and outcome)
  'would_deliver',
  'sent',
  'push_delivered',
  'push_gone',
  'push_retry',
  'push_failed',
  'push_quarantined',
  'chat_delivered',
  'chat_gone',
  'chat_retry',
  'chat_failed',
  'chat_quarantined',
  // notifications and exports: the queues
  'retry_scheduled',
  'lease_lost',
  // overdue
  'marked_overdue',
  'notified',
  'reopened_rescheduled',
  'reopened_settled',
  // rollover
  'rolled_over',
  'unknown_zone',
  'days_closed',
  'days_scored',
  'routine_tasks_reset',
  'tasks_carried_over',
  'catchup_days_skipped',
  // cleanup-tokens
  'tokens_cleared',
  // exports
  'exported',
  'bytes',
  'released',
  'failed_for_good',
  // prune
  'job_runs_deleted',
  'notifications_deleted',
] as const;

export type Counter = (typeof COUNTERS)[number];

/** How many affected ids job_runs keeps per counter; past it, a sample and the total. */
export const ID_SAMPLE_LIMIT = 100;

export interface ItemFailure {
  id: string;
  reason: string;
}

/** What one run did, counted as it goes: the source of the summary, the log's end line and job_runs. */
export class Tally {
  processed = 0;
  /** Rows looked at and left alone (not the run's status `skipped`: that is a run that did nothing). */
  leftAlone = 0;
  readonly counts: Partial<Record<Counter, number>> = {};
  readonly ids: Partial<Record<Counter, string[]>> = {};
  readonly failures: ItemFailure[] = [];
  failedCount = 0;

  /** Rows a step changed, under its counter (`marked_overdue`, ...): `count` of them, `ids` all or the first of them. */
  done(counter: Counter, ids: readonly string[], count = ids.length): void {
    this.processed += count;
    this.record(counter, ids, count);
  }

  /** Rows looked at and deliberately left alone (a stale reminder, a finished task). */
  leaveAlone(counter: Counter, ids: readonly string[]): void {
    this.leftAlone += ids.length;
    this.record(counter, ids);
  }

  fail(failures: readonly ItemFailure[]): void {
    this.failedCount += failures.length;
    this.failures.push(...failures.slice(0, Math.max(0, ID_SAMPLE_LIMIT - this.failures.length)));
  }

  /** A side count that is not an item of its own (notifications queued, days closed...). */
  count(counter: Counter, n: number): void {
    if (n > 0) this.counts[counter] = (this.counts[counter] ?? 0) + n;
  }

  private record(counter: Counter, ids: readonly string[], count = ids.length): void {
    this.count(counter, count);
    const sample = (this.ids[counter] ??= []);
    sample.push(...ids.slice(0, Math.max(0, ID_SAMPLE_LIMIT - sample.length)));
  }

  /** The part of job_runs.details that says what was touched: counts, ids (or a sample), failures. */
  details(): Record<string, unknown> {
    const sampled = (Object.entries(this.ids) as [Counter, string[]][]).filter(
      ([counter, ids]) => (this.counts[counter] ?? 0) > ids.length,
    );
    return {
      counts: this.counts,
      ids: this.ids,
      ...(sampled.length > 0 && { ids_sampled: Object.fromEntries(sampled.map(([c]) => [c, this.counts[c]])) }),
      ...(this.failedCount > 0 && { failures: this.failures }),
    };
  }
}
