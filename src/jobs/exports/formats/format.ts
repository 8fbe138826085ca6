import { Readable } from 'node:stream';

/** Streams a SELECT over one user's rows (`:userId`), in order: each row its columns' text, as PostgreSQL wrote it. */
export type RowSource = (select: string) => AsyncIterable<(string | null)[]>;

/** What a table cell (CSV, Markdown) shows of one value. */
export interface Cell {
  text: string;
  /** True for user text; false for NULL, numbers, booleans, arrays and objects. */
  isText: boolean;
}

/**
 * A cell from the JSON PostgreSQL wrote for one value (`to_json`, see entities.ts): a string's
 * own text; NULL (SQL's, which `to_json` passes through, or JSON's) empty; a number, boolean, array or object exactly as written, so no stored
 * digit passes through a JavaScript number (`9007199254740993`, `0.10000000000000000555`).
 */
export function cellOf(json: string | null): Cell {
  if (json === null) return { text: '', isText: false };
  if (json.startsWith('"')) return { text: JSON.parse(json) as string, isText: true };
  return { text: json === 'null' ? '' : json, isText: false };
}

/** What every document says about itself. */
export interface ExportHeader {
  format_version: number;
  exported_at: string;
  user_id: string;
}

export interface Format {
  extension: string;
  contentType: string;
  /** The whole document as a byte stream, pulled (and so read from PostgreSQL) as fast as storage takes it. */
  render(rows: RowSource, header: ExportHeader): Promise<Readable>;
}

export const FORMAT_VERSION = 1;

const CHUNK_CHARS = 64 * 1024;

/** Joins many small strings into ~64 KB chunks: one stream write per chunk, not per row. */
async function* chunked(parts: AsyncIterable<string>): AsyncIterable<string> {
  let buffer = '';
  for await (const part of parts) {
    buffer += part;
    if (buffer.length >= CHUNK_CHARS) {
      yield buffer;
      buffer = '';
    }
  }
  if (buffer) yield buffer;
}

/**
 * A byte stream of `parts`, joined into ~64 KB chunks. Its errors reach the export through the
 * pipeline that reads it; one that comes after the pipeline gave up (the generator failing while
 * it is being closed, say on a lost database connection) has no reader left and must not crash the run.
 */
export function textStream(parts: AsyncIterable<string>): Readable {
  return Readable.from(chunked(parts), { objectMode: false }).on('error', () => undefined);
}
