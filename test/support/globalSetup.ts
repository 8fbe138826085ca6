import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { TestProject } from 'vitest/node';
import { createKnex } from '../../src/core/db.js';
import { removeDataDir, startEmbedded, type EmbeddedServer } from '../../src/core/embedded.js';
import { createLogger } from '../../src/core/logger.js';
import { databaseUrl } from './urls.js';

declare module 'vitest' {
  export interface ProvidedContext {
    adminUrl: string;
    templateDatabase: string;
    /** Prefix of every test database of this run: `pj_test_<run id>_`. */
    testDatabasePrefix: string;
  }
}

/**
 * One PostgreSQL for the whole suite: TEST_DATABASE_URL when set, else an embedded server in a
 * temporary directory. Migrations run once into a template database; every test then gets its
 * own copy of it (test/support/db.ts), so files and tests run in parallel without sharing rows.
 */
export default async function setup(project: TestProject) {
  const log = createLogger({ level: 'warn', stream: process.stderr, pretty: false });
  let server: EmbeddedServer | undefined;
  let dataDir: string | undefined;
  let adminUrl = process.env.TEST_DATABASE_URL;
  if (!adminUrl) {
    dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'planner-jobs-test-'));
    await fs.chmod(dataDir, 0o755);
    server = await startEmbedded(dataDir, log);
    adminUrl = server.url;
  }
  // Every database this suite makes carries its run id, so suites sharing one server (TEST_DATABASE_URL)
  // clean up only their own.
  const runId = randomBytes(4).toString('hex');
  const templateDatabase = `pj_template_${runId}`;
  const admin = createKnex(adminUrl, 'planner-jobs:test-setup');
  await admin.raw(`CREATE DATABASE ${templateDatabase}`);
  const template = createKnex(databaseUrl(adminUrl, templateDatabase), 'planner-jobs:test-setup');
  await template.migrate.latest();
  await template.destroy();

  project.provide('adminUrl', adminUrl);
  project.provide('templateDatabase', templateDatabase);
  project.provide('testDatabasePrefix', `pj_test_${runId}_`);

  return async () => {
    const leftovers = await admin.raw<{ rows: { datname: string }[] }>(
      'SELECT datname FROM pg_database WHERE starts_with(datname, ?) OR datname = ?',
      [`pj_test_${runId}_`, templateDatabase],
    );
    for (const { datname } of leftovers.rows) await admin.raw(`DROP DATABASE IF EXISTS ${datname} WITH (FORCE)`);
    await admin.destroy();
    await server?.release();
    if (dataDir) await removeDataDir(dataDir); // and its cluster, when kept under /var/lib/planner-jobs (a 0700 TMPDIR)
  };
}
