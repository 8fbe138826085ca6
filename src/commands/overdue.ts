import type { Command } from 'commander';
import { jobAction } from '../core/commandKit.js';

export const registerOverdue = (program: Command) =>
  program
    .command('overdue')
    .description('mark open tasks past their due date as overdue (and back, when moved or completed)')
    .action(jobAction(async () => (await import('../jobs/overdue/index.js')).overdueJob));
