import { ENTITIES, selectJsonRows } from '../entities.js';
import { textStream, type ExportHeader, type Format, type RowSource } from './format.js';

async function* document(rows: RowSource, header: ExportHeader): AsyncIterable<string> {
  yield JSON.stringify(header).slice(0, -1);
  for (const entity of ENTITIES) {
    yield `,${JSON.stringify(entity.name)}:[`;
    let separator = '';
    for await (const [row] of rows(selectJsonRows(entity)) as AsyncIterable<[string]>) {
      yield separator + row;
      separator = ',';
    }
    yield ']';
  }
  yield '}\n';
}

/**
 * One versioned JSON document: the header's fields, then every entity type as an array of
 * objects, exactly as PostgreSQL rendered them (ISO 8601 timestamps), so `JSON.parse` gives
 * the data back.
 */
export const jsonDocument: Format = {
  extension: 'json',
  contentType: 'application/json; charset=utf-8',
  render: async (rows, header) => textStream(document(rows, header)),
};
