import type { Command } from 'commander';
import { action } from '../core/lifecycle.js';
import { ExitCode } from '../core/errors.js';

export const registerVapidKeys = (program: Command) =>
  program
    .command('vapid-keys')
    .description('print a new VAPID key pair for Web Push, as environment lines (set VAPID_SUBJECT to your contact)')
    .action(
      action(async (invocation) => {
        const { newVapidKeyLines } = await import('../jobs/notifications/vapid.js');
        for (const line of newVapidKeyLines()) invocation.print(line);
        return ExitCode.ok;
      }),
    );
