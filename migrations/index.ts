import type { Knex } from 'knex';
import * as initialSchema from './20261122000000_initial_schema.js';
import * as recurringAnchor from './20261122010000_recurring_anchor.js';
import * as rollover from './20261122020000_rollover.js';
import * as notifications from './20261122030000_notifications.js';
import * as exportsRetry from './20261122040000_exports.js';
import * as retention from './20261122070000_retention.js';
import * as rolloverHotUpdates from './20261123000000_rollover_hot_updates.js';
import * as claims from './20261129000000_claims.js';
import * as exportsLeaseToken from './20261129200000_exports_lease_token.js';
import * as followNotify from './20261130000000_follow_notify.js';

/**
 * Migrations are imported, not discovered on disk, so the same list works from the TypeScript
 * sources (tests) and the compiled build (the CLI). Append new ones in order.
 */
const migrations: Record<string, Knex.Migration> = {
  '20261122000000_initial_schema': initialSchema,
  '20261122010000_recurring_anchor': recurringAnchor,
  '20261122020000_rollover': rollover,
  '20261122030000_notifications': notifications,
  '20261122040000_exports': exportsRetry,
  '20261122070000_retention': retention,
  '20261123000000_rollover_hot_updates': rolloverHotUpdates,
  '20261129000000_claims': claims,
  '20261129200000_exports_lease_token': exportsLeaseToken,
  '20261130000000_follow_notify': followNotify,
};

export const migrationSource: Knex.MigrationSource<string> = {
  getMigrations: async () => Object.keys(migrations),
  getMigrationName: (name) => name,
  getMigration: async (name) => migrations[name],
};
