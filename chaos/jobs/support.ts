import type { Knex } from 'knex';
import type { Counts } from '../types.js';

/** The first row of a count query as numbers (PostgreSQL returns bigint counts as strings). */
export async function countsOf<K extends string>(
  knex: Knex,
  sql: string,
  bindings: Record<string, unknown> = {},
): Promise<Record<K, number>> {
  const { rows } = await knex.raw<{ rows: Record<K, string | number | null>[] }>(sql, bindings);
  return Object.fromEntries(Object.entries(rows[0]).map(([key, value]) => [key, Number(value ?? 0)])) as Record<K, number>;
}

/** `n` users named `chaos-<i>@example.test` (so checks can recompute from the index), spread over `zones`. */
export async function seedUsers(knex: Knex, n: number, zones = "ARRAY['UTC']"): Promise<void> {
  await knex.raw(
    `INSERT INTO users (email, timezone)
     SELECT 'chaos-' || i || '@example.test', z.names[1 + i % cardinality(z.names)]
       FROM generate_series(1, :n) i, (SELECT ${zones} AS names) z`,
    { n },
  );
}

/** Counts with the defaults filled in: `lost` is what is not done. */
export const tally = (counts: Omit<Counts, 'lost' | 'halfWritten' | 'wrong'> & Partial<Counts>): Counts => ({
  lost: counts.expected - counts.done,
  halfWritten: 0,
  wrong: 0,
  ...counts,
});

/** The first `--now` of every scenario. */
export const NOW = new Date('2025-06-01T12:00:00Z');

/**
 * What the jobs that only touch the database share: 10,000 items (300 with `--quick`), batches of
 * 25 so a run is many transactions, and a clock that stays put between reruns (no lease to wait out).
 */
export const DATABASE_JOB = { items: { full: 10_000, quick: 300 }, batchSize: 25, now: NOW, stepMs: 0 };
