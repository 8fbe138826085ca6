import type { Knex } from 'knex';

/** What the database and the outside receivers say happened, never the job's own summary. */
export interface Counts {
  expected: number;
  /** Items fully done: every row and every message of the item is there. */
  done: number;
  /** Items done more than once (a second row, object or delivered message), summed over the extra copies. */
  duplicates: number;
  /** Items not done after the last run. */
  lost: number;
  /** Items caught half-way: one of their writes without the other (e.g. a reminder marked sent without its notification). */
  halfWritten: number;
  /** Items the job changed that it should have left alone (controls seeded beside the work). */
  wrong: number;
  /**
   * Deliveries whose outcome the job could not know (a request that timed out after the receiver
   * had it): an at-least-once job may send each of them once more.
   */
  ambiguous?: number;
  note?: string;
}

/** One scenario's data and outside services for one job: a fresh database, seeded; receivers to count from. */
export interface World {
  /** Environment the CLI needs besides DATABASE_URL (push identity, storage). */
  env: Record<string, string>;
  seed(knex: Knex): Promise<void>;
  check(knex: Knex): Promise<Counts>;
  /** Storage stops answering (connections refused, open ones reset) and comes back. */
  storage?: { refuse(): Promise<void>; accept(): Promise<void> };
  /**
   * Export storage becomes files under `directory.dir` from the next run on (the disk scenarios),
   * and checks count them there; the world closes the directory in its own `close`.
   */
  useDirectory?(directory: { dir: string; close(): Promise<void> }): void;
  /** Forgets what the receivers got so far (after a measuring run on a copy of the data). */
  reset?(): Promise<void>;
  close(): Promise<void>;
}

export interface WorldOptions {
  /** The outside service misbehaves (the push service's scripted 429/500/hang for a third of the endpoints). */
  serviceFaults: boolean;
}

export interface ChaosJob {
  /** The CLI command. */
  name: string;
  /** Items per scenario: the full suite, and `--quick`. */
  items: { full: number; quick: number };
  /** Small batches, so a run is many transactions and a fault lands mid-run. */
  batchSize: number;
  /** The `--now` of the first run. */
  now: Date;
  /**
   * How far `--now` moves between reruns: past the job's lease and first retry backoffs, so a rerun
   * takes over what a killed run held. 0 for jobs whose work depends on the instant (rollover's days).
   */
  stepMs: number;
  /**
   * At-least-once jobs: how many items one fault (a kill, a lost connection) may deliver twice,
   * those it had sent but not yet recorded. Unset: exactly-once, no duplicate allowed.
   */
  inFlightPerFault?: number;
  /** Items for the service-faults scenario when fewer than `items` (a misbehaving service is slow). */
  faultItems?: { full: number; quick: number };
  /**
   * Hostile rows the API can write (issue #14 part 2), planted first in claim order beside the
   * items: `plant` is an INSERT ... RETURNING them; `changed` a query counting (as `n`) those the job
   * changed (it must fail and park them, never act on them).
   */
  poison?: { plant: string; changed: string };
  /** Whether the job talks to an outside service a scenario can break. */
  service?: 'push' | 'storage';
  world(items: number, options: WorldOptions): Promise<World>;
}
