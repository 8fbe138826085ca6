import type { Command } from 'commander';
import { jobAction } from '../core/commandKit.js';

export const registerPrune = (program: Command) =>
  program
    .command('prune')
    .description('delete job_runs and sent notifications older than RETENTION_DAYS (default 90)')
    .action(jobAction(async () => (await import('../jobs/prune/index.js')).pruneJob));
