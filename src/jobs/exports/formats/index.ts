import { csvZip } from './csv.js';
import type { Format } from './format.js';
import { jsonDocument } from './json.js';
import { markdownDocument } from './markdown.js';

/** The formats `export --format` and `export_jobs.format` accept. */
export const FORMATS = {
  json: jsonDocument,
  csv: csvZip,
  markdown: markdownDocument,
} satisfies Record<string, Format>;

export type FormatName = keyof typeof FORMATS;
export const FORMAT_NAMES = Object.keys(FORMATS) as FormatName[];
