import { spawnSync } from 'node:child_process';
import fs from 'node:fs/promises';
import { ConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { CronJob } from 'kubernetes-models/batch/v1/CronJob';
import { Job } from 'kubernetes-models/batch/v1/Job';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { CONTAINER, LONGEST_EXPORT_SECONDS, renderManifests } from '../k8s/manifests.js';
import { JOBS, JOB_NAMES } from '../src/core/catalog.js';
import { OVERLAP_MS } from '../src/core/follow.js';
import { parseCron } from '../src/core/schedule.js';
import { cli } from './support/cli.js';
import { test } from './support/db.js';

type Manifest = { apiVersion: string; kind: string; metadata: { name: string }; spec: Record<string, any> };

/** The Kubernetes schemas (kubernetes-models, offline): validate() throws with every violation. */
const MODELS: Record<string, new (data: any) => { validate(): void }> = {
  'batch/v1 CronJob': CronJob,
  'batch/v1 Job': Job,
  'v1 ConfigMap': ConfigMap,
};

const parseYaml = (text: string): Manifest[] =>
  parseAllDocuments(text)
    .map((doc) => doc.toJS())
    .filter(Boolean);

const readManifests = async () => [
  ...parseYaml(await fs.readFile('k8s/cronjobs.yaml', 'utf8')),
  ...parseYaml(await fs.readFile('k8s/migrate-job.yaml', 'utf8')),
];

function validateAll(objects: Manifest[]): void {
  for (const object of objects) {
    const Model = MODELS[`${object.apiVersion} ${object.kind}`];
    expect(Model, `no schema for ${object.apiVersion} ${object.kind}`).toBeDefined();
    expect(() => new Model(object).validate(), `${object.kind}/${object.metadata.name}`).not.toThrow();
  }
}

/** `kustomize build DIR`, or kubectl's built-in kustomize; undefined when neither is installed. */
function kustomizeBuild(dir = 'k8s'): string | undefined {
  for (const [command, args] of [
    ['kustomize', ['build', dir]],
    ['kubectl', ['kustomize', dir]],
  ] as const) {
    const run = spawnSync(command, args, { encoding: 'utf8', timeout: 30_000 });
    if (run.error) continue;
    if (run.status !== 0) throw new Error(`${command} ${args.join(' ')} failed:\n${run.stderr}`);
    return run.stdout;
  }
  return undefined;
}

const containerOf = (podSpec: Record<string, any>) => podSpec.containers.find((c: { name: string }) => c.name === CONTAINER);

describe('k8s: the kustomize base', () => {
  it('is what the job catalog generates (run `npm run k8s` after changing the catalog)', async () => {
    for (const [file, content] of Object.entries(renderManifests())) {
      expect(await fs.readFile(`k8s/${file}`, 'utf8'), `k8s/${file} is stale`).toBe(content);
    }
  });

  it('validates against the Kubernetes schemas', async () => {
    validateAll(await readManifests());
  });

  it('is rendered by kustomize, and the rendered objects validate too', (context) => {
    const rendered = kustomizeBuild();
    if (rendered === undefined) return context.skip('neither kustomize nor kubectl is installed');
    const objects = parseYaml(rendered);
    validateAll(objects);
    const configMap = objects.find((o) => o.kind === 'ConfigMap')!;
    expect(configMap.metadata.name).toMatch(/^planner-jobs-config-/);
    for (const cron of objects.filter((o) => o.kind === 'CronJob')) {
      const container = containerOf(cron.spec.jobTemplate.spec.template.spec);
      expect(container.envFrom).toContainEqual({ configMapRef: { name: configMap.metadata.name } });
      expect(container.image).toBe('planner-jobs:0.1.0');
    }
  });

  it("k8s/monitoring renders the PrometheusRule and the dashboard as a ConfigMap for Grafana's sidecar", async (context) => {
    const rendered = kustomizeBuild('k8s/monitoring');
    if (rendered === undefined) return context.skip('neither kustomize nor kubectl is installed');
    const objects = parseYaml(rendered);
    expect(objects.map((o) => `${o.kind}/${o.metadata.name}`).sort()).toEqual([
      'ConfigMap/planner-jobs-dashboard',
      'PrometheusRule/planner-jobs',
    ]);
    const configMap = objects.find((o) => o.kind === 'ConfigMap') as Manifest & { data: Record<string, string> };
    expect(configMap.metadata).toMatchObject({ labels: { grafana_dashboard: '1' } });
    expect(configMap.data['planner-jobs.json']).toBe(await fs.readFile('k8s/monitoring/dashboard.json', 'utf8'));
  });

  it('has one CronJob per job of the catalog, at its default schedule in Etc/UTC', async () => {
    const cronJobs = (await readManifests()).filter((o) => o.kind === 'CronJob');
    expect(cronJobs.map((c) => c.spec.jobTemplate.spec.template.spec.containers[0].args[0]).sort()).toEqual(
      [...JOB_NAMES].sort(),
    );
    for (const cron of cronJobs) {
      const job = containerOf(cron.spec.jobTemplate.spec.template.spec).args[0] as keyof typeof JOBS;
      expect(cron.metadata.name).toBe(`planner-jobs-${job}`);
      expect(cron.spec).toMatchObject({ schedule: JOBS[job].schedule, timeZone: 'Etc/UTC' });
    }
  });

  it('runs one at a time, except the queue jobs, which scale out with parallelism', async () => {
    const cronJobs = (await readManifests()).filter((o) => o.kind === 'CronJob');
    for (const cron of cronJobs) {
      const job = cron.metadata.name.replace('planner-jobs-', '') as keyof typeof JOBS;
      // A following job's runs overlap by design (PLANNER_FOLLOW: until the next tick plus an overlap).
      const overlaps = JOBS[job].parallelism > 1 || JOBS[job].follows;
      expect(cron.spec.concurrencyPolicy, job).toBe(overlaps ? 'Allow' : 'Forbid');
      expect(cron.spec.jobTemplate.spec.parallelism, job).toBe(JOBS[job].parallelism);
    }
    expect(cronJobs.find((c) => c.metadata.name === 'planner-jobs-notifications')!.spec.concurrencyPolicy).toBe('Allow');
    expect(cronJobs.find((c) => c.metadata.name === 'planner-jobs-overdue')!.spec.concurrencyPolicy).toBe('Forbid');
  });

  it('bounds every Job: deadlines below the period (exports aside) and above the time budget, retries, history, TTL', async () => {
    for (const cron of (await readManifests()).filter((o) => o.kind === 'CronJob')) {
      const job = cron.metadata.name.replace('planner-jobs-', '') as keyof typeof JOBS;
      const period = parseCron(JOBS[job].schedule).periodSeconds;
      const spec = cron.spec.jobTemplate.spec;
      if (job !== 'exports' && !JOBS[job].follows) expect(spec.activeDeadlineSeconds, job).toBeLessThan(period);
      // A following run must never be killed inside its window: the next tick plus the overlap.
      if (JOBS[job].follows) expect(spec.activeDeadlineSeconds, job).toBeGreaterThan(period + OVERLAP_MS / 1000);
      expect(spec.activeDeadlineSeconds, job).toBeGreaterThanOrEqual(Math.min(JOBS[job].maxRuntimeSeconds, period / 2));
      expect(cron.spec.startingDeadlineSeconds, job).toBeGreaterThan(0);
      expect(cron.spec.startingDeadlineSeconds, job).toBeLessThan(period);
      expect(spec.backoffLimit, job).toBeGreaterThan(0);
      expect(cron.spec.successfulJobsHistoryLimit, job).toBeGreaterThan(0);
      expect(cron.spec.failedJobsHistoryLimit, job).toBeGreaterThan(0);
      expect(spec.ttlSecondsAfterFinished, job).toBeGreaterThan(0);
    }
  });

  it('lets an exports run finish the longest export it may start: its budget, then one whole export (issue #14)', async () => {
    const exportsJob = (await readManifests()).find((o) => o.metadata.name === 'planner-jobs-exports')!;
    const deadline = exportsJob.spec.jobTemplate.spec.activeDeadlineSeconds;
    // A run claims its last export just before its budget ends and works on it to the end.
    expect(deadline).toBeGreaterThan(JOBS.exports.maxRuntimeSeconds + LONGEST_EXPORT_SECONDS);
    // Sized from the benchmark (1,000,000 tasks as JSON in 19.6 s): a user ten times that large, with room to spare.
    expect(LONGEST_EXPORT_SECONDS).toBeGreaterThanOrEqual(10 * 19.6);
    // Past the period, runs overlap: safe only because they share the queue by leases, renewed while an export streams.
    expect(exportsJob.spec.concurrencyPolicy).toBe('Allow');
  });

  it('fails a Job at once on exit 64 and 78, retries 75, and does not count evictions', async () => {
    for (const object of await readManifests()) {
      const spec = object.kind === 'CronJob' ? object.spec.jobTemplate.spec : object.spec;
      expect(spec.template.spec.restartPolicy).toBe('Never'); // podFailurePolicy requires it
      const rules = spec.podFailurePolicy.rules as { action: string; onExitCodes?: { values: number[]; operator: string } }[];
      const actionFor = (code: number) =>
        rules.find((r) => r.onExitCodes?.operator === 'In' && r.onExitCodes.values.includes(code))?.action;
      expect([actionFor(64), actionFor(78), actionFor(75), actionFor(0)]).toEqual(['FailJob', 'FailJob', 'Count', undefined]);
      expect(rules).toContainEqual(
        expect.objectContaining({ action: 'Ignore', onPodConditions: [{ type: 'DisruptionTarget', status: 'True' }] }),
      );
    }
  });

  it('runs non-root on a read-only root filesystem, env from the Secret and the ConfigMap, with requests and limits', async () => {
    for (const object of await readManifests()) {
      const pod = (object.kind === 'CronJob' ? object.spec.jobTemplate.spec : object.spec).template.spec;
      const container = containerOf(pod);
      expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: expect.any(Number) });
      expect(pod.securityContext.runAsUser).toBeGreaterThan(0);
      expect(pod.automountServiceAccountToken).toBe(false);
      expect(container.securityContext).toMatchObject({
        readOnlyRootFilesystem: true,
        allowPrivilegeEscalation: false,
        capabilities: { drop: ['ALL'] },
      });
      expect(container.volumeMounts).toContainEqual({ name: 'tmp', mountPath: '/tmp' });
      expect(container.envFrom).toEqual([
        { configMapRef: { name: 'planner-jobs-config' } },
        { secretRef: { name: 'planner-jobs-secrets' } },
      ]);
      expect(container.resources.requests).toMatchObject({ cpu: expect.any(String), memory: expect.stringMatching(/Mi$/) });
      expect(container.resources.limits.memory).toMatch(/Mi$/);
    }
  });

  it('sizes memory from the benchmarks: 256 Mi per run, 512 Mi for exports, the heap capped below the limit', async () => {
    const containers = new Map(
      (await readManifests()).map((o) => [
        o.metadata.name,
        containerOf((o.kind === 'CronJob' ? o.spec.jobTemplate.spec : o.spec).template.spec),
      ]),
    );
    const limit = (name: string) => containers.get(name).resources.limits.memory;
    expect([limit('planner-jobs-overdue'), limit('planner-jobs-exports'), limit('planner-jobs-migrate')]).toEqual([
      '256Mi',
      '512Mi',
      '256Mi',
    ]);
    for (const [name, container] of containers) {
      const heap = Number(
        /--max-old-space-size=(\d+)/.exec(container.env.find((e: { name: string }) => e.name === 'NODE_OPTIONS').value)![1],
      );
      expect(heap, name).toBeLessThan(Number.parseInt(limit(name), 10));
    }
  });

  it('has a migration Job that runs `migrate`', async () => {
    const migrate = (await readManifests()).find((o) => o.kind === 'Job')!;
    expect(migrate.metadata.name).toBe('planner-jobs-migrate');
    expect(containerOf(migrate.spec.template.spec).args).toEqual(['migrate']);
  });
});

describe('k8s: every CronJob and the migration Job run a real subcommand with real options', () => {
  const argsOf = async () =>
    (await readManifests()).map((object) => {
      const spec = object.kind === 'CronJob' ? object.spec.jobTemplate.spec : object.spec;
      return containerOf(spec.template.spec).args as string[];
    });

  test('every job of the catalog, and migrate, has its CronJob (or Job) and its command', async () => {
    const commands = (await argsOf()).map((args) => args[0]);
    for (const name of [...JOB_NAMES, 'migrate']) {
      expect(commands, name).toContain(name);
      expect((await cli([name, '--help'], {})).code, `${name} --help`).toBe(0);
    }
  });

  for (const name of [...JOB_NAMES, 'migrate']) {
    test(`${name}: its args run through the CLI and exit 0`, async ({ db }) => {
      const args = (await argsOf()).find((a) => a[0] === name)!;
      expect(args).toBeDefined();
      // Dry run for the jobs: the real command and options, on an empty database, nothing written.
      const run = await cli(name === 'migrate' ? args : [...args, '--dry-run'], { DATABASE_URL: db.url });
      expect(run.code, run.stderr).toBe(0);
    });
  }
});
