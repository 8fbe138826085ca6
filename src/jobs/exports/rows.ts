import { once, type EventEmitter } from 'node:events';
import type { Readable } from 'node:stream';
import type { Knex } from 'knex';
import type { RunContext } from '../../core/runner.js';
import type { RowSource } from './formats/format.js';

/** Rows fetched per cursor round trip: large enough to keep PostgreSQL busy, small enough to stay flat in memory. */
const CURSOR_BATCH = 2000;

/**
 * Runs `read` inside one read-only REPEATABLE READ transaction, so every entity comes from the
 * same snapshot (a plan never names a task the export lacks), with timestamps rendered in UTC.
 * It holds no row locks. A dry run is already inside one transaction, which is its snapshot.
 */
export async function inSnapshot<T>(ctx: RunContext, read: (trx: Knex.Transaction) => Promise<T>): Promise<T> {
  return ctx.db.transaction(async (trx) => {
    if (!ctx.dryRun) await trx.raw('SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY');
    await trx.raw("SET LOCAL TimeZone = 'UTC'");
    return read(trx);
  });
}

/**
 * One user's rows of each entity through a server-side cursor (pg-query-stream): never the
 * whole table in memory. `close` ends any cursor still open (an export that failed half way),
 * so the transaction's ROLLBACK is not left queued behind it.
 */
export function userRows(trx: Knex.Transaction, userId: string): { rows: RowSource; close(): void } {
  const open = new Set<Readable>();
  let closed = false;
  const rows: RowSource = async function* (select) {
    const stream = trx.raw(select, { userId }).stream({ batchSize: CURSOR_BATCH, highWaterMark: CURSOR_BATCH, rowMode: 'array' });
    open.add(stream);
    // The reader sees errors through the iteration; one that arrives after it stopped (the export
    // already failed and closed its cursors) has no one to tell and must not crash the run.
    stream.on('error', () => undefined);
    // knex pipes pg-query-stream into `stream`; its cursor says when PostgreSQL is ready again.
    let cursor: (EventEmitter & { state: string }) | undefined;
    stream.once('pipe', (source: { cursor: typeof cursor }) => {
      cursor = source.cursor;
      // A connection lost while the stream is paused (storage applying backpressure) reaches only
      // the cursor's 'error' event, which pg-query-stream does not watch: the export would wait forever.
      cursor?.once('error', (err: Error) => stream.destroy(err));
    });
    try {
      for await (const [json] of stream as AsyncIterable<[string]>) yield json;
      // The stream ends with its last rows, a moment before the server is ready for the next
      // statement; waiting for that keeps the next entity's query from queueing behind this one.
      if (cursor && cursor.state !== 'done') await once(cursor, 'end');
    } catch (err) {
      // Closed on purpose: the export already failed with its own error; this is only the echo.
      if (!closed) throw err;
    } finally {
      open.delete(stream);
    }
  };
  return {
    rows,
    close: () => {
      closed = true;
      open.forEach((stream) => stream.destroy());
    },
  };
}
