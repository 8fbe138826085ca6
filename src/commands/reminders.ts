import type { Command } from 'commander';
import { jobAction } from '../core/commandKit.js';

export const registerReminders = (program: Command) =>
  program
    .command('reminders')
    .description('turn every due, unsent reminder into a notification and mark it sent (skipped / expired when stale)')
    .action(jobAction(async () => (await import('../jobs/reminders/index.js')).remindersJob));
