import type { ChaosJob } from '../types.js';
import { cleanupTokensChaos } from './cleanup-tokens.js';
import { exportsChaos } from './exports.js';
import { notificationsChaos } from './notifications.js';
import { overdueChaos } from './overdue.js';
import { recurringChaos } from './recurring.js';
import { remindersChaos } from './reminders.js';
import { rolloverChaos } from './rollover.js';

export const JOBS: ChaosJob[] = [
  recurringChaos,
  remindersChaos,
  notificationsChaos,
  overdueChaos,
  rolloverChaos,
  cleanupTokensChaos,
  exportsChaos,
];
