import type { Command } from 'commander';
import { jobAction } from '../core/commandKit.js';

export const registerRecurring = (program: Command) =>
  program
    .command('recurring')
    .description('create the next instance of every completed recurring task not yet processed')
    .action(jobAction(async () => (await import('../jobs/recurring/index.js')).recurringJob));
