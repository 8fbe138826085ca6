import type { Knex } from 'knex';
import { query } from '../core/sql.js';
import { FORMAT_NAMES } from '../jobs/exports/formats/index.js';

/** The first demo user asks for an export in every format; the demo's `exports` run writes them to file storage. */
export async function seedExports(trx: Knex.Transaction, userId: string): Promise<void> {
  await query(trx, `INSERT INTO export_jobs (user_id, format) SELECT :userId, unnest(:formats::text[])`, {
    userId,
    formats: FORMAT_NAMES,
  });
}
