import { sql, type Sql } from '../../core/sql.js';

/** The retention cutoff in SQL, with its values: `days` whole days (RETENTION_DAYS) before the run's now. */
export const retentionCutoff = (now: Date, days: number): Sql => sql`(${now}::timestamptz - make_interval(days => ${days}))`;
