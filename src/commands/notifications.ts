import type { Command } from 'commander';
import { jobAction } from '../core/commandKit.js';
import { positiveInt } from '../core/options.js';
import { DEFAULT_NOTIFICATIONS_OPTIONS } from '../jobs/notifications/policy.js';

interface NotificationsCommandOptions {
  concurrency: number;
  connectionsPerOrigin: number;
  requestTimeout: number;
}

const defaults = DEFAULT_NOTIFICATIONS_OPTIONS;

export const registerNotifications = (program: Command) =>
  program
    .command('notifications')
    .description('deliver pending notifications: in-app row, Web Push to every subscription, chat webhook; retries with backoff')
    .option(
      '--concurrency <n>',
      'requests in flight at once, all channels together',
      positiveInt('--concurrency', 1000),
      defaults.concurrency,
    )
    .option(
      '--connections-per-origin <n>',
      'open connections (and requests in flight) per push service',
      positiveInt('--connections-per-origin', 256),
      defaults.connectionsPerOrigin,
    )
    .option(
      '--request-timeout <seconds>',
      'deadline of one push or chat request',
      positiveInt('--request-timeout', 300),
      defaults.requestTimeoutMs / 1000,
    )
    .action(
      jobAction<NotificationsCommandOptions>(async (options) =>
        (await import('../jobs/notifications/index.js')).notificationsJob({
          concurrency: options.concurrency,
          connectionsPerOrigin: options.connectionsPerOrigin,
          requestTimeoutMs: options.requestTimeout * 1000,
        }),
      ),
    );
