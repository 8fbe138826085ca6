import type { Command } from 'commander';
import { jobAction } from '../core/commandKit.js';

export const registerCleanupTokens = (program: Command) =>
  program
    .command('cleanup-tokens')
    .description('clear expired password-reset tokens')
    .action(jobAction(async () => (await import('../jobs/cleanup-tokens/index.js')).cleanupTokensJob));
