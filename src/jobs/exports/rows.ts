import { setTimeout as sleep } from 'node:timers/promises';
import type { Knex } from 'knex';
import type pg from 'pg';
import QueryStream from 'pg-query-stream';
import type { RowSource } from './formats/format.js';

/** Rows fetched per cursor round trip: large enough to keep PostgreSQL busy, small enough to stay flat in memory. */
const CURSOR_BATCH = 2000;
/** How long a broken connection gets to say goodbye before its socket is simply left to close. */
const DISCARD_WAIT_MS = 1000;

/**
 * Every value reaches the formats as the text PostgreSQL wrote: no type parser of pg's runs on
 * an export's rows, so `bigint`, `numeric` and `jsonb` never pass through a JavaScript number
 * (2^53 and beyond, and decimals, keep every digit). Scoped to the export's cursors only.
 */
const TEXT_ONLY = { getTypeParser: () => (text: string) => text };

/**
 * The connection exports read through: the run's own, outside the pool, opened on first use.
 * Each export reads in one read-only REPEATABLE READ transaction, so every entity comes from the
 * same snapshot (a plan never names a task the export lacks), with timestamps rendered in UTC,
 * holding no row locks; a dry run reads the same way (it writes nothing there anyway).
 *
 * A read that does not end cleanly (storage gave up on the stream, a serializer threw, a signal
 * stopped the export, the connection failed) leaves the connection in an unknown protocol state:
 * a closed cursor's last rows, its CommandComplete and ReadyForQuery may still be on the wire and
 * would be taken for the next statement's results. Such a connection is destroyed, never reused
 * and never returned to a pool; the next export opens a new one. The queue's own statements
 * (claims, leases, results) run on the pool, which never carries a cursor.
 */
export class SnapshotReader {
  private connection?: Promise<pg.Client>;
  /** Connections a cursor did not read to its end on, or that reported an error: never reused. */
  private readonly broken = new WeakSet<pg.Client>();

  constructor(private readonly db: Knex | Knex.Transaction) {}

  /**
   * Runs `work` over one user's rows in one snapshot. Rejects with `work`'s error (or the
   * database's), after destroying the connection.
   */
  async read<T>(userId: string, work: (rows: RowSource) => Promise<T>): Promise<T> {
    let client = await this.open();
    // Its server went away while it sat idle between exports: a new one, not a failed export.
    if (this.broken.has(client)) {
      await this.discard(client);
      client = await this.open();
    }
    try {
      await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY');
      await client.query("SET LOCAL TimeZone = 'UTC'");
      const result = await work((select) => this.rows(client, select, userId));
      if (this.broken.has(client)) await this.discard(client);
      else await client.query('COMMIT');
      return result;
    } catch (err) {
      await this.discard(client);
      throw err;
    }
  }

  /** Ends the run's connection, if one is open. */
  async close(): Promise<void> {
    const client = await this.connection?.catch(() => undefined);
    if (client) await this.discard(client);
  }

  private open(): Promise<pg.Client> {
    if (!this.connection) {
      // knex's own settings (application_name, timeouts, search path), on a connection it does not pool.
      const opening = (this.db.client.acquireRawConnection() as Promise<pg.Client>).then((client) => {
        client.on('error', () => this.broken.add(client));
        return client;
      });
      this.connection = opening;
      opening.catch(() => {
        if (this.connection === opening) this.connection = undefined;
      });
    }
    return this.connection;
  }

  /** Ends `client` for good (pg closes the socket of a connection with a query in flight); the next read opens a new one. */
  private async discard(client: pg.Client): Promise<void> {
    this.broken.add(client);
    if (this.connection && (await this.connection.catch(() => undefined)) === client) this.connection = undefined;
    await Promise.race([client.end().catch(() => undefined), sleep(DISCARD_WAIT_MS, undefined, { ref: false })]);
  }

  /** One SELECT (`:userId` bound) through a server-side cursor: never the whole table in memory. */
  private async *rows(client: pg.Client, select: string, userId: string): AsyncIterable<(string | null)[]> {
    const { sql, bindings } = this.db.raw(select, { userId }).toSQL().toNative();
    const stream = client.query(
      new QueryStream(sql, bindings as unknown[], {
        batchSize: CURSOR_BATCH,
        highWaterMark: CURSOR_BATCH,
        rowMode: 'array',
        types: TEXT_ONLY,
      }),
    );
    // An error after the reader stopped (the export already failed) has no one to tell and must not crash the run.
    stream.on('error', () => undefined);
    // A connection lost while the stream is paused (storage applying backpressure) reaches only the
    // cursor's 'error' event: pg-query-stream does not watch it, and its destroy then waits for a
    // ReadyForQuery that never comes. The read fails on it directly instead of waiting forever.
    const lost = new Promise<never>((_, reject) => (stream.cursor as NodeJS.EventEmitter).once('error', reject));
    lost.catch(() => undefined);
    const iterator = (stream as AsyncIterable<(string | null)[]>)[Symbol.asyncIterator]();
    let readToEnd = false;
    try {
      for (
        let next = await Promise.race([iterator.next(), lost]);
        !next.done;
        next = await Promise.race([iterator.next(), lost])
      ) {
        yield next.value;
      }
      readToEnd = true;
    } finally {
      if (!readToEnd) {
        this.broken.add(client);
        void iterator.return?.().catch(() => undefined);
      }
    }
  }
}
