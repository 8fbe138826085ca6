import type { RunContext } from '../../core/runner.js';

/** The retention cutoff in SQL: RETENTION_DAYS whole days before the run's now. */
export const RETENTION_CUTOFF = `(:now::timestamptz - make_interval(days => :days))`;

/** The values RETENTION_CUTOFF reads. */
export const retentionBindings = (ctx: RunContext) => ({ now: ctx.now, days: ctx.config.retentionDays });
