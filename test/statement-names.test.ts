import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { describe, expect } from 'vitest';
import { jobWithDefaults } from '../src/commands/jobs.js';
import { JOB_NAMES, JOBS } from '../src/core/catalog.js';
import { loadConfig } from '../src/core/config.js';
import { createLogger } from '../src/core/logger.js';
import { executeRun } from '../src/core/runner.js';
import { seedDemo } from '../src/demo/seed.js';
import { test } from './support/db.js';

// Transaction control and the run's own bookkeeping in job_runs (the runner's, not a job step's).
const UNNAMED_ALLOWED = /^(begin|commit|rollback|savepoint|release)\b|^(insert into|update) "job_runs"/i;

describe('every statement a job sends starts with its name, /* planner-jobs:<job>.<step> */', () => {
  test('the demo data through every job, following ones too: no unnamed statement reaches the server', async ({ db }) => {
    const exportDir = await fs.mkdtemp(path.join(os.tmpdir(), 'planner-jobs-names-'));
    const config = loadConfig({ DATABASE_URL: db.url, EXPORT_DIR: exportDir, PLANNER_FOLLOW: 'true' });
    const log = createLogger({ level: 'silent', pretty: false, stream: new Writable({ write: (_c, _e, done) => done() }) });
    const now = new Date('2026-03-10T12:00:00Z');
    await seedDemo(db.knex, now);
    const sent: { job: string; sql: string }[] = [];
    let running = '';
    db.knex.on('query', (q: { sql: string }) => sent.push({ job: running, sql: q.sql.trim() }));
    try {
      for (const name of JOB_NAMES) {
        running = name;
        const job = await jobWithDefaults(name);
        // A following job drains its queue, asks for the next due instant, then waits: stopped there.
        const signal = job.follow ? AbortSignal.timeout(1500) : undefined;
        const { exitCode } = await executeRun(
          job,
          { knex: db.knex, config, log },
          { now, nowFixed: true, dryRun: false, batchSize: JOBS[name].batchSize, maxRuntimeSeconds: 30, signal },
        );
        expect(exitCode, name).toBe(0);
      }
    } finally {
      await fs.rm(exportDir, { recursive: true, force: true });
    }

    expect(sent.map(({ sql }) => sql)).toContainEqual(expect.stringMatching(/^\/\* planner-jobs:reminders\.nextDue \*\//));
    const unnamed = sent.filter(({ sql }) => !sql.startsWith('/* planner-jobs:') && !UNNAMED_ALLOWED.test(sql));
    expect(unnamed.map(({ job, sql }) => `${job}: ${sql.slice(0, 80)}`)).toEqual([]);
    // Every job was heard from, so the check covered each one's statements.
    expect(new Set(sent.filter(({ sql }) => sql.startsWith('/* planner-jobs:')).map(({ job }) => job))).toEqual(
      new Set(JOB_NAMES),
    );
  });
});
