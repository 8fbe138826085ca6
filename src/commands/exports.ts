import type { Command } from 'commander';
import { jobAction } from '../core/commandKit.js';

export const registerExports = (program: Command) =>
  program
    .command('exports')
    .description('work through pending export requests: stream each user’s data to storage, store a download link')
    .action(jobAction(async () => (await import('../jobs/exports/index.js')).exportsJob));
