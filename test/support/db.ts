import { randomBytes } from 'node:crypto';
import type { Knex } from 'knex';
import { inject, test as base } from 'vitest';
import { createKnex } from '../../src/core/db.js';
import { databaseUrl } from './urls.js';

export interface TestDatabase {
  name: string;
  url: string;
  knex: Knex;
}

/** A new database: a copy of the migrated template, or an empty one (`{ migrated: false }`). */
export async function createTestDatabase({ migrated = true } = {}): Promise<TestDatabase & { drop(): Promise<void> }> {
  const adminUrl = inject('adminUrl');
  const name = `${inject('testDatabasePrefix')}${randomBytes(6).toString('hex')}`;
  const admin = createKnex(adminUrl, 'planner-jobs:test');
  try {
    await admin.raw(`CREATE DATABASE ${name}${migrated ? ` TEMPLATE ${inject('templateDatabase')}` : ''}`);
  } finally {
    await admin.destroy();
  }
  const url = databaseUrl(adminUrl, name);
  const knex = createKnex(url, 'planner-jobs:test');
  return {
    name,
    url,
    knex,
    drop: async () => {
      await knex.destroy();
      const dropper = createKnex(adminUrl, 'planner-jobs:test');
      try {
        await dropper.raw(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } finally {
        await dropper.destroy();
      }
    },
  };
}

/** `test` with a `db` fixture: each test that asks for it gets its own freshly migrated database. */
export const test = base.extend<{ db: TestDatabase }>({
  // eslint-disable-next-line no-empty-pattern
  db: async ({}, use) => {
    const db = await createTestDatabase();
    await use(db);
    await db.drop();
  },
});
