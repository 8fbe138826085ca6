import { runSteps } from '../../core/batches.js';
import type { Job } from '../../core/runner.js';
import { clearExpiredTokens } from './clearExpiredTokens.js';

/**
 * Password Reset Token Cleanup (hourly, one run at a time): clear expired tokens in short
 * batches, so no batch holds row locks on `users` for long.
 */
export const cleanupTokensJob: Job = {
  name: 'cleanup-tokens',
  run: (ctx) => runSteps(ctx, [clearExpiredTokens], 'serialized'),
};
