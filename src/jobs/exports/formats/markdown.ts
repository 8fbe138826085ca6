import { ENTITIES, selectJsonCells } from '../entities.js';
import { cellOf, textStream, type ExportHeader, type Format, type RowSource } from './format.js';

const HTML_ENTITIES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;' };

/**
 * User text made inert inside a table cell: no raw HTML (`& < >` become entities), no Markdown
 * markup (emphasis, code, links, images are backslash-escaped), a `|` cannot end the cell and
 * a line break cannot end the row.
 */
export function markdownCell(text: string): string {
  return text
    .replace(/[&<>]/g, (c) => HTML_ENTITIES[c])
    .replace(/[\\`*_[\]()!~|#]/g, '\\$&')
    .replace(/\r\n|\r|\n/g, ' ↵ ');
}

const tableRow = (cells: readonly string[]) => `| ${cells.join(' | ')} |\n`;

async function* document(rows: RowSource, header: ExportHeader): AsyncIterable<string> {
  yield `# Planner export\n\nUser \`${header.user_id}\`, exported ${header.exported_at} (format version ${header.format_version}).\n`;
  for (const entity of ENTITIES) {
    yield `\n## ${entity.title}\n\n`;
    let count = 0;
    for await (const row of rows(selectJsonCells(entity))) {
      if (count === 0) yield tableRow(entity.columns) + tableRow(entity.columns.map(() => '---'));
      yield tableRow(row.map((json) => markdownCell(cellOf(json).text)));
      count += 1;
    }
    yield count === 0 ? '_None._\n' : `\n${count.toLocaleString('en')} row(s).\n`;
  }
}

/** A readable document: one section per entity type, a table of its rows. */
export const markdownDocument: Format = {
  extension: 'md',
  contentType: 'text/markdown; charset=utf-8',
  render: async (rows, header) => textStream(document(rows, header)),
};
