import type { Knex } from 'knex';

type Bindings = Record<string, unknown>;

/**
 * A piece of SQL that carries its own values: `sql\`due_date < ${now}\`` is the text
 * `due_date < ?` with the binding `now`. A fragment interpolated into another is spliced in,
 * text and values together, so a fragment can be handed around and composed without its values
 * travelling separately: a forgotten binding cannot happen, and no value is ever part of the
 * text. A `?` written in the text is escaped (it is never a placeholder); an `undefined` value
 * is refused by knex when the statement runs.
 */
export class Sql {
  private constructor(
    /** knex's positional form: `?` per value, a literal question mark as `\\?`. */
    readonly text: string,
    readonly values: readonly unknown[],
  ) {}

  /** The fragment of a tagged template (`sql`). */
  static of(strings: readonly string[], values: readonly unknown[]): Sql {
    let text = escape(strings[0]);
    const bound: unknown[] = [];
    values.forEach((value, i) => {
      if (value instanceof Sql) {
        text += value.text;
        bound.push(...value.values);
      } else {
        text += '?';
        bound.push(value);
      }
      text += escape(strings[i + 1]);
    });
    return new Sql(text, bound);
  }

  /** Text from the code itself (a table or a column name, a keyword), never a value. */
  static text(text: string): Sql {
    return new Sql(escape(text), []);
  }

  /** A fragment put into a plain string would lose its values: only `sql` may take it in. */
  toString(): never {
    throw new TypeError('a Sql fragment goes into sql`...`, never into a plain string');
  }
}

const escape = (text: string) => text.replace(/\?/g, '\\?');

/** `sql\`... ${value} ...\``: a fragment with its values (see `Sql`). */
export const sql = (strings: TemplateStringsArray, ...values: unknown[]): Sql => Sql.of(strings, values);

// With named bindings, knex would read the `:job` of a statement's name as a binding: escaped.
const NAME_COLON = /^(\s*\/\* planner-jobs):/;

/**
 * Runs a statement and returns its rows: a `Sql` fragment, or text with named bindings
 * (`:now`, `:ids::uuid[]`). A statement starts with its name, `/* planner-jobs:<job>.<step> *\/`,
 * so pg_stat_statements and the slow-query log say which job step ran it.
 * A failing statement throws the database's error with the database's own one-line message:
 * knex puts the whole statement in front of it, and SQL text must never reach a log line, a
 * summary or `job_runs.details`.
 */
export async function query<Row>(db: Knex | Knex.Transaction, statement: Sql): Promise<Row[]>;
export async function query<Row>(db: Knex | Knex.Transaction, statement: string, bindings?: Bindings): Promise<Row[]>;
export async function query<Row>(db: Knex | Knex.Transaction, statement: string | Sql, bindings: Bindings = {}): Promise<Row[]> {
  const raw = () =>
    statement instanceof Sql
      ? db.raw<{ rows: Row[] }>(statement.text, statement.values as Knex.RawBinding[])
      : db.raw<{ rows: Row[] }>(statement.replace(NAME_COLON, '$1\\:'), bindings as Knex.ValueDict);
  try {
    const { rows } = await raw();
    return rows;
  } catch (err) {
    throw withoutStatement(err, raw().toSQL().toNative().sql);
  }
}

/** Runs a statement that returns an `id` column and gives back the ids. */
export async function queryIds(db: Knex | Knex.Transaction, statement: Sql): Promise<string[]>;
export async function queryIds(db: Knex | Knex.Transaction, statement: string, bindings?: Bindings): Promise<string[]>;
export async function queryIds(db: Knex | Knex.Transaction, statement: string | Sql, bindings: Bindings = {}): Promise<string[]> {
  const rows =
    statement instanceof Sql ? await query<{ id: string }>(db, statement) : await query<{ id: string }>(db, statement, bindings);
  return rows.map((row) => row.id);
}

/** Takes off the statement knex prefixes to a failed query's message (`<sql> - <message>`), and the internal query PostgreSQL may attach. */
function withoutStatement(err: unknown, statement: string): unknown {
  if (!(err instanceof Error)) return err;
  const prefix = `${statement} - `;
  if (err.message.startsWith(prefix)) err.message = err.message.slice(prefix.length);
  delete (err as { internalQuery?: unknown }).internalQuery;
  return err;
}
