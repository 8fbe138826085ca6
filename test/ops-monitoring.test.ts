import fs from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect } from 'vitest';
import { cli } from './support/cli.js';
import { test } from './support/db.js';
import { createTask, plusMs } from './support/factories.js';
import { parsePrometheusText, type Sample } from './support/promtext.js';

const NOW = '2025-06-01T12:00:00.000Z';

interface Hit {
  method: string;
  url: string;
  body: string;
}

/** A real HTTP server that records every request; `respond` decides what it answers (or never answers). */
async function startServer(respond: (res: http.ServerResponse) => void = (res) => res.end('OK')) {
  const hits: Hit[] = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (chunk) => (body += chunk));
    req.on('end', () => {
      hits.push({ method: req.method!, url: req.url!, body });
      respond(res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  servers.push(server);
  return { url, hits };
}

/** A port nothing listens on: connections are refused at once. */
async function deadUrl() {
  const server = http.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return `http://127.0.0.1:${port}`;
}

const servers: http.Server[] = [];
const tempDirs: string[] = [];
afterEach(async () => {
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
  for (const dir of tempDirs.splice(0)) await fs.rm(dir, { recursive: true, force: true });
});

async function tempDir() {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'planner-jobs-metrics-'));
  tempDirs.push(dir);
  return dir;
}

const valueOf = (samples: Sample[], name: string, job: string) =>
  samples.find((s) => s.name === name && s.labels.planner_job === job)?.value;

describe('heartbeat: HEARTBEAT_URL is pinged at /start and at /<exit code>', () => {
  test('a run pings /start, then /0 with its summary; {job} names the check', async ({ db }) => {
    const beat = await startServer();
    await createTask(db.knex, { due_date: plusMs(new Date(NOW), -1000) });

    const run = await cli(['overdue', '--now', NOW], { DATABASE_URL: db.url, HEARTBEAT_URL: `${beat.url}/ping/abc-123/{job}` });

    expect(run.code).toBe(0);
    expect(beat.hits.map((h) => `${h.method} ${h.url}`)).toEqual([
      'POST /ping/abc-123/overdue/start',
      'POST /ping/abc-123/overdue/0',
    ]);
    expect(JSON.parse(beat.hits[1].body)).toMatchObject({ job: 'overdue', status: 'succeeded', processed: 1 });
  });

  test('a run that cannot reach the database pings /75 (the exit code it ends with)', async () => {
    const beat = await startServer();
    const run = await cli(['cleanup-tokens'], {
      DATABASE_URL: `postgres://nobody@${(await deadUrl()).slice(7)}/x`,
      HEARTBEAT_URL: beat.url,
    });

    expect(run.code).toBe(75);
    expect(beat.hits.map((h) => h.url)).toEqual(['/start', '/75']);
  });

  test('a dead heartbeat server (refused, or answering 500) never changes the exit code', async ({ db }) => {
    await createTask(db.knex, { due_date: plusMs(new Date(NOW), -1000) });
    const refused = await cli(['overdue', '--now', NOW, '--json'], { DATABASE_URL: db.url, HEARTBEAT_URL: await deadUrl() });
    const broken = await startServer((res) => {
      res.statusCode = 500;
      res.end();
    });
    const failing = await cli(['overdue', '--now', NOW, '--json'], { DATABASE_URL: db.url, HEARTBEAT_URL: broken.url });

    expect(refused.code).toBe(0);
    expect(refused.json()).toMatchObject({ status: 'succeeded', processed: 1 });
    expect(refused.logs().filter((l) => String(l.msg).startsWith('heartbeat /'))).toHaveLength(2);
    expect(refused.stderr).not.toContain('"stack"'); // the line names the cause; the stack is for LOG_LEVEL=debug
    expect(failing.code).toBe(0);
    expect(broken.hits).toHaveLength(2);
  });

  test('a heartbeat server that never answers costs at most the short timeout per ping', async ({ db }) => {
    const silent = await startServer(() => undefined);
    const started = Date.now();
    const run = await cli(['cleanup-tokens', '--now', NOW], { DATABASE_URL: db.url, HEARTBEAT_URL: silent.url });

    expect(run.code).toBe(0);
    expect(silent.hits.map((h) => h.url)).toEqual(['/start', '/0']);
    expect(Date.now() - started).toBeLessThan(20_000);
  });

  test('dry runs and disabled jobs do not ping', async ({ db }) => {
    const beat = await startServer();
    await cli(['overdue', '--dry-run'], { DATABASE_URL: db.url, HEARTBEAT_URL: beat.url });
    await cli(['overdue'], { DATABASE_URL: db.url, HEARTBEAT_URL: beat.url, JOB_OVERDUE_ENABLED: 'false' });
    expect(beat.hits).toEqual([]);
  });
});

describe("metrics: METRICS_FILE holds every job's last run in Prometheus text format", () => {
  test('a run writes valid text: last success, duration, processed, failed, exit code, per job', async ({ db }) => {
    const file = path.join(await tempDir(), 'planner-jobs.prom');
    await createTask(db.knex, { due_date: plusMs(new Date(NOW), -1000) });
    const before = Date.now() / 1000;

    const run = await cli(['overdue', '--now', NOW], { DATABASE_URL: db.url, METRICS_FILE: file });

    expect(run.code).toBe(0);
    const { types, samples } = parsePrometheusText(await fs.readFile(file, 'utf8'));
    expect(Object.values(types).every((type) => type === 'gauge')).toBe(true);
    const lastSuccess = valueOf(samples, 'planner_jobs_last_success_timestamp_seconds', 'overdue')!;
    expect(lastSuccess).toBeGreaterThanOrEqual(before);
    expect(lastSuccess).toBeLessThanOrEqual(Date.now() / 1000);
    expect(valueOf(samples, 'planner_jobs_last_run_duration_seconds', 'overdue')).toBeGreaterThan(0);
    expect(valueOf(samples, 'planner_jobs_last_run_processed', 'overdue')).toBe(1);
    expect(valueOf(samples, 'planner_jobs_last_run_failed', 'overdue')).toBe(0);
    expect(valueOf(samples, 'planner_jobs_last_run_exit_code', 'overdue')).toBe(0);
    expect(await fs.readdir(path.dirname(file))).toEqual(['planner-jobs.prom']); // no temp file or lock left behind
  });

  test('jobs share the file; a failed run updates its last run but keeps its last success', async ({ db }) => {
    const file = path.join(await tempDir(), 'planner-jobs.prom');
    await Promise.all([
      cli(['overdue', '--now', NOW], { DATABASE_URL: db.url, METRICS_FILE: file }),
      cli(['cleanup-tokens', '--now', NOW], { DATABASE_URL: db.url, METRICS_FILE: file }),
    ]);
    const first = parsePrometheusText(await fs.readFile(file, 'utf8')).samples;
    const success = valueOf(first, 'planner_jobs_last_success_timestamp_seconds', 'overdue');

    const down = await cli(['overdue'], {
      DATABASE_URL: `postgres://nobody@${(await deadUrl()).slice(7)}/x`,
      METRICS_FILE: file,
    });

    expect(down.code).toBe(75);
    const after = parsePrometheusText(await fs.readFile(file, 'utf8')).samples;
    expect(valueOf(after, 'planner_jobs_last_success_timestamp_seconds', 'cleanup-tokens')).toBeDefined();
    expect(valueOf(after, 'planner_jobs_last_success_timestamp_seconds', 'overdue')).toBe(success);
    expect(valueOf(after, 'planner_jobs_last_run_exit_code', 'overdue')).toBe(75);
    expect(valueOf(after, 'planner_jobs_last_run_timestamp_seconds', 'overdue')).toBeGreaterThan(success!);
    expect(valueOf(after, 'planner_jobs_last_run_exit_code', 'cleanup-tokens')).toBe(0);
  });

  test('an unwritable METRICS_FILE is logged and does not change the exit code', async ({ db }) => {
    const dir = await tempDir();
    await fs.writeFile(path.join(dir, 'not-a-dir'), '');
    const run = await cli(['cleanup-tokens'], { DATABASE_URL: db.url, METRICS_FILE: path.join(dir, 'not-a-dir', 'x.prom') });

    expect(run.code).toBe(0);
    expect(run.logs().some((l) => String(l.msg).startsWith('could not write METRICS_FILE'))).toBe(true);
  });

  test('PUSHGATEWAY_URL receives the same text by POST under job/planner-jobs/planner_job/<job>', async ({ db }) => {
    const gateway = await startServer();
    await cli(['overdue', '--now', NOW], { DATABASE_URL: db.url, PUSHGATEWAY_URL: gateway.url });
    await cli(['overdue'], { DATABASE_URL: `postgres://nobody@${(await deadUrl()).slice(7)}/x`, PUSHGATEWAY_URL: gateway.url });

    expect(gateway.hits.map((h) => `${h.method} ${h.url}`)).toEqual([
      'POST /metrics/job/planner-jobs/planner_job/overdue',
      'POST /metrics/job/planner-jobs/planner_job/overdue',
    ]);
    const [ok, failed] = gateway.hits.map((h) => parsePrometheusText(h.body).samples);
    expect(valueOf(ok, 'planner_jobs_last_success_timestamp_seconds', 'overdue')).toBeGreaterThan(0);
    // POST replaces only the families sent: the failed run leaves the last success as it was.
    expect(valueOf(failed, 'planner_jobs_last_success_timestamp_seconds', 'overdue')).toBeUndefined();
    expect(valueOf(failed, 'planner_jobs_last_run_exit_code', 'overdue')).toBe(75);
  });
});
