import type { Knex } from 'knex';
import { query } from '../core/sql.js';
import { rolloverReport } from './rollover.js';

/** Local wall-clock time of a timestamptz column in its owner's zone, as `YYYY-MM-DD HH24:MI`. */
const local = (column: string) => `to_char(${column} AT TIME ZONE u.timezone, 'YYYY-MM-DD HH24:MI')`;

/**
 * What the demo's jobs did, read back from the data: the new recurring instances (in their owner's
 * wall-clock time), the tasks now overdue, each user's closed day, the cleared tokens, the
 * notifications and the export files.
 */
export async function demoReport(knex: Knex, emailDomain: string): Promise<string[]> {
  const demoUsers = { pattern: `%@${emailDomain}` };
  const lines: string[] = [];
  const section = async (title: string, rows: Promise<string[]>) => {
    const found = await rows;
    lines.push(`${title}:`, ...(found.length > 0 ? found : ['  (none)']));
  };
  const list = <Row>(sql: string, format: (row: Row) => string) =>
    query<Row>(knex, sql, demoUsers).then((rows) => rows.map(format));

  await section(
    'New recurring instances (owner’s local time)',
    list<{ name: string; title: string; kind: string; before: string; next: string; zone: string }>(
      `SELECT u.display_name AS name, c.title, c.recurrence_type AS kind, u.timezone AS zone,
              ${local('p.due_date')} AS before, ${local('c.due_date')} AS next
         FROM tasks c JOIN tasks p ON p.id = c.recurrence_parent_id JOIN users u ON u.id = c.user_id
        WHERE u.email LIKE :pattern ORDER BY u.display_name, c.title`,
      (r) => `  ${r.name}: "${r.title}" (${r.kind}) ${r.before} → ${r.next} ${r.zone}`,
    ),
  );
  await section(
    'Overdue tasks',
    list<{ name: string; title: string; due: string }>(
      `SELECT u.display_name AS name, t.title, ${local('t.due_date')} AS due
         FROM tasks t JOIN users u ON u.id = t.user_id
        WHERE u.email LIKE :pattern AND t.status = 'overdue' ORDER BY u.display_name, t.title`,
      (r) => `  ${r.name}: "${r.title}" was due ${r.due}`,
    ),
  );
  await section('Days closed by rollover', rolloverReport(knex, emailDomain));
  await section(
    'Reset tokens',
    list<{ email: string; cleared: boolean }>(
      `SELECT u.email, u.password_reset_token IS NULL AS cleared
         FROM users u
        WHERE u.email LIKE :pattern
          AND (u.password_reset_token IS NOT NULL
               OR u.id::text IN (SELECT jsonb_array_elements_text(last.ids)
                                   FROM (SELECT details->'ids'->'tokens_cleared' AS ids FROM job_runs
                                          WHERE job = 'cleanup-tokens' ORDER BY id DESC LIMIT 1) last))
        ORDER BY u.email`,
      (r) => `  ${r.email}: ${r.cleared ? 'expired, cleared' : 'still valid, kept'}`,
    ),
  );
  await section(
    'Notifications (the in-app inbox)',
    list<{ name: string; title: string; source: string; status: string }>(
      `SELECT u.display_name AS name, n.title, n.source, n.status
         FROM notifications n JOIN users u ON u.id = n.user_id
        WHERE u.email LIKE :pattern ORDER BY u.display_name, n.created_at`,
      (r) => `  ${r.name}: [${r.source}, ${r.status}] ${r.title}`,
    ),
  );
  await section(
    'Exports',
    list<{ format: string; status: string; url: string | null }>(
      `SELECT e.format, e.status, e.download_url AS url
         FROM export_jobs e JOIN users u ON u.id = e.user_id
        WHERE u.email LIKE :pattern ORDER BY e.format`,
      (r) => `  ${r.format}: ${r.status}${r.url ? ` ${r.url}` : ''}`,
    ),
  );
  return lines;
}
