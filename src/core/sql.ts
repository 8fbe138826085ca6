import type { Knex } from 'knex';

type Bindings = Record<string, unknown>;

/**
 * Runs a statement with named bindings (`:now`, `:ids::uuid[]`) and returns its rows.
 * A failing statement throws the database's error with the database's own one-line message:
 * knex puts the whole statement in front of it, and SQL text must never reach a log line, a
 * summary or `job_runs.details`.
 */
export async function query<Row>(db: Knex | Knex.Transaction, sql: string, bindings: Bindings = {}): Promise<Row[]> {
  try {
    const { rows } = await db.raw<{ rows: Row[] }>(sql, bindings as Knex.ValueDict);
    return rows;
  } catch (err) {
    throw withoutStatement(
      err,
      db
        .raw(sql, bindings as Knex.ValueDict)
        .toSQL()
        .toNative().sql,
    );
  }
}

/** Runs a statement that returns an `id` column and gives back the ids. */
export async function queryIds(db: Knex | Knex.Transaction, sql: string, bindings: Bindings = {}): Promise<string[]> {
  return (await query<{ id: string }>(db, sql, bindings)).map((row) => row.id);
}

/** Takes off the statement knex prefixes to a failed query's message (`<sql> - <message>`), and the internal query PostgreSQL may attach. */
function withoutStatement(err: unknown, statement: string): unknown {
  if (!(err instanceof Error)) return err;
  const prefix = `${statement} - `;
  if (err.message.startsWith(prefix)) err.message = err.message.slice(prefix.length);
  delete (err as { internalQuery?: unknown }).internalQuery;
  return err;
}
