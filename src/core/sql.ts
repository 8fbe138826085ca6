import type { Knex } from 'knex';

type Bindings = Record<string, unknown>;

/** Runs a statement with named bindings (`:now`, `:ids::uuid[]`) and returns its rows. */
export async function query<Row>(db: Knex | Knex.Transaction, sql: string, bindings: Bindings = {}): Promise<Row[]> {
  const { rows } = await db.raw<{ rows: Row[] }>(sql, bindings as Knex.ValueDict);
  return rows;
}

/** Runs a statement that returns an `id` column and gives back the ids. */
export async function queryIds(db: Knex | Knex.Transaction, sql: string, bindings: Bindings = {}): Promise<string[]> {
  return (await query<{ id: string }>(db, sql, bindings)).map((row) => row.id);
}
