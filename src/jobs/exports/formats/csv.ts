import { ENTITIES, selectJsonCells, type Entity } from '../entities.js';
import { cellOf, textStream, type Cell, type Format, type RowSource } from './format.js';

/** Fast deflate: the export's cost is PostgreSQL and the upload, not squeezing the last few percent. */
const ZIP_LEVEL = 1;
const CRLF = '\r\n';

const FORMULA_START = /^[=+\-@\t\r]/;
const NEEDS_QUOTES = /[",\r\n]/;

/**
 * One CSV cell (ISO 8601 timestamps; arrays and objects as JSON; numbers with every stored digit;
 * NULL empty).
 * - OWASP CSV injection: text that a spreadsheet would read as a formula (starts with `= + - @`,
 *   tab or CR) gets a leading apostrophe; numbers (`-5`) are not text and stay as they are.
 * - RFC 4180: a cell holding a quote, comma or line break is quoted, its quotes doubled.
 */
export function csvCell({ text, isText }: Cell): string {
  const safe = isText && FORMULA_START.test(text) ? `'${text}` : text;
  return NEEDS_QUOTES.test(safe) ? `"${safe.replaceAll('"', '""')}"` : safe;
}

const csvLine = (cells: readonly string[]) => `${cells.join(',')}${CRLF}`;

async function* csvFile(rows: RowSource, entity: Entity): AsyncIterable<string> {
  yield csvLine(entity.columns);
  for await (const row of rows(selectJsonCells(entity))) yield csvLine(row.map((json) => csvCell(cellOf(json))));
}

/**
 * A zip with one RFC 4180 CSV per entity type (`tasks.csv`, ...), CRLF line ends, each with its
 * header row even when empty. Each entry is appended once the previous one is written (archiver
 * would otherwise start reading the next source early), so one cursor is open at a time.
 */
export const csvZip: Format = {
  extension: 'zip',
  contentType: 'application/zip',
  async render(rows, header) {
    // Loaded only for a CSV export: archiver costs every other command ~17 MB of memory.
    const { ZipArchive } = await import('archiver');
    const zip = new ZipArchive({ zlib: { level: ZIP_LEVEL } });
    const date = new Date(header.exported_at);
    const entities = [...ENTITIES];
    const appendNext = () => {
      const entity = entities.shift();
      if (!entity) return void zip.finalize().catch(() => undefined); // errors surface on the stream itself
      // archiver does not watch an entry's errors: without this a failing entry would stall the zip.
      const entry = textStream(csvFile(rows, entity)).once('error', (err) => zip.destroy(err));
      zip.append(entry, { name: `${entity.name}.csv`, date });
    };
    zip.on('entry', appendNext);
    appendNext();
    return zip;
  },
};
