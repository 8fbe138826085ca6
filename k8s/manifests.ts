import { stringify } from 'yaml';
import { JOBS, JOB_NAMES, type JobName } from '../src/core/catalog.js';
import { ExitCode } from '../src/core/errors.js';
import { OVERLAP_MS } from '../src/core/follow.js';
import { parseCron } from '../src/core/schedule.js';
import { buildDashboard } from './monitoring/dashboard.js';
import { alertGroups } from './monitoring/rules.js';

/**
 * The Kubernetes objects of the kustomize base, built from the job catalog so that every job
 * (and every job added to the catalog later) gets its CronJob with the same pod template.
 * `npm run k8s` writes them to k8s/*.yaml; test/k8s.test.ts fails when the files are stale.
 */

export const CONTAINER = 'planner-jobs';
const IMAGE = 'planner-jobs'; // replaced by kustomization.yaml's `images:` (or an overlay's)
const UID = 1000; // the `node` user of the image (Dockerfile: USER 1000:1000)
const LABELS = { 'app.kubernetes.io/name': 'planner-jobs' };

/**
 * Memory per job, from the benchmarks (docs/operations.md, "Resources"): a run's peak RSS is
 * ~110 MB on overdue with 1,000,000 rows, 121 MB on cleanup-tokens with 100,000 and 126 MB on
 * prune with 200,000; a run holds one batch at a time, so it does not grow with the table.
 * Exports hold one user's export in memory and an upload buffer: not measured here, so twice.
 */
const MEMORY_LIMIT_MI: Partial<Record<JobName, number>> = { exports: 512 };
const DEFAULT_MEMORY_LIMIT_MI = 256;

const FAIL_FAST_EXIT_CODES = [ExitCode.usage, ExitCode.config];
const RETRY_EXIT_CODES = [ExitCode.unavailable];

function resources(job?: JobName) {
  const limit = (job && MEMORY_LIMIT_MI[job]) ?? DEFAULT_MEMORY_LIMIT_MI;
  return {
    // Heap capped below the limit, so V8 collects before the kernel kills.
    heapMi: Math.floor(limit * 0.75),
    spec: {
      requests: { cpu: '100m', memory: `${limit / 2}Mi` },
      limits: { memory: `${limit}Mi` },
    },
  };
}

/** The pod every run uses: non-root, read-only root filesystem, env from the ConfigMap and the Secret. */
function podTemplate(component: JobName | 'migrate', args: string[]) {
  const job = component === 'migrate' ? undefined : component;
  const { heapMi, spec } = resources(job);
  return {
    metadata: { labels: { ...LABELS, 'app.kubernetes.io/component': component } },
    spec: {
      restartPolicy: 'Never',
      automountServiceAccountToken: false,
      enableServiceLinks: false,
      securityContext: { runAsNonRoot: true, runAsUser: UID, runAsGroup: UID, seccompProfile: { type: 'RuntimeDefault' } },
      containers: [
        {
          name: CONTAINER,
          image: IMAGE,
          imagePullPolicy: 'IfNotPresent',
          args,
          envFrom: [{ configMapRef: { name: 'planner-jobs-config' } }, { secretRef: { name: 'planner-jobs-secrets' } }],
          env: [
            { name: 'NODE_OPTIONS', value: `--max-old-space-size=${heapMi}` },
            { name: 'PLANNER_DATA_DIR', value: '/tmp/planner-jobs' },
            ...(job && JOBS[job].follows ? [{ name: 'PLANNER_FOLLOW', value: 'true' }] : []),
          ],
          resources: spec,
          securityContext: {
            allowPrivilegeEscalation: false,
            readOnlyRootFilesystem: true,
            capabilities: { drop: ['ALL'] },
          },
          volumeMounts: [{ name: 'tmp', mountPath: '/tmp' }],
        },
      ],
      volumes: [{ name: 'tmp', emptyDir: { sizeLimit: '64Mi' } }],
    },
  };
}

/** 64 and 78 will fail the same way again: fail the Job at once. 75 is worth a retry. Evictions do not count. */
const podFailurePolicy = {
  rules: [
    { action: 'FailJob', onExitCodes: { containerName: CONTAINER, operator: 'In', values: FAIL_FAST_EXIT_CODES } },
    { action: 'Count', onExitCodes: { containerName: CONTAINER, operator: 'In', values: RETRY_EXIT_CODES } },
    { action: 'Ignore', onPodConditions: [{ type: 'DisruptionTarget', status: 'True' }] },
  ],
};

/**
 * The longest one export may take, in seconds. An `exports` run stops claiming after its time
 * budget (`--max-runtime`, 50 s) but finishes the export it holds, renewing that export's
 * lease every 30 s, so a run lasts up to its budget plus one whole export. Measured
 * (docs/exports.md, "Benchmark"): 1,000,000 tasks of one user export in 19.6 s as JSON, the
 * slowest format, on 2 shared cores. Sized for a user ten times that large (~200 s), three
 * times over for a busier database: 600 s. A Job killed sooner would stop the same export
 * every run until its attempts are spent (issue #14).
 */
export const LONGEST_EXPORT_SECONDS = 600;

/** Per job, the longest single item a run may start just before its budget ends and must finish. */
const LONGEST_ITEM_SECONDS: Partial<Record<JobName, number>> = { exports: LONGEST_EXPORT_SECONDS };

/**
 * Seconds a Job may run: the run's time budget, plus its longest item, plus a minute to start
 * and finish. Jobs without long items stay below their period; a job with long items may
 * outlast it, which only the lease-sharing queue jobs (concurrencyPolicy Allow) can afford.
 */
export function activeDeadlineSeconds(job: JobName): number {
  const period = parseCron(JOBS[job].schedule).periodSeconds;
  // A following run lives until its next tick plus the overlap, within its budget, then ends the
  // deliveries it has in flight (each bounded by the request timeout): its budget plus a minute.
  if (JOBS[job].follows) return JOBS[job].maxRuntimeSeconds + 60;
  const longestItem = LONGEST_ITEM_SECONDS[job];
  if (longestItem !== undefined) {
    if (JOBS[job].parallelism <= 1) throw new Error(`${job}: a deadline past the period needs a job whose runs may overlap`);
    return JOBS[job].maxRuntimeSeconds + longestItem + 60;
  }
  return Math.min(JOBS[job].maxRuntimeSeconds + 60, period - Math.max(5, Math.floor(period / 20)));
}

/**
 * Why a following job's CronJob is set as it is (written above it in cronjobs.yaml):
 * - concurrencyPolicy Allow: each run overlaps the next by OVERLAP_MS on purpose, so there is
 *   no gap while the next pod starts; Forbid would skip or delay the next tick instead (the
 *   rows are shared safely: SKIP LOCKED, leases);
 * - startingDeadlineSeconds: a start missed by up to a period less 5 s still covers the rest
 *   of its minute, so it is started late rather than left to the next tick;
 * - activeDeadlineSeconds: the time budget plus a minute, past the window (period + overlap),
 *   so Kubernetes never kills a run in its window; a deadline while waiting ends it with 0.
 */
function followComment(job: JobName): string {
  const { maxRuntimeSeconds } = JOBS[job];
  const overlap = OVERLAP_MS / 1000;
  return [
    `# ${job} follows (PLANNER_FOLLOW=true): each run works until the next tick + ${overlap} s, handling each due row the`,
    `# second it is due, so consecutive runs overlap by ${overlap} s and leave no gap while the next pod starts.`,
    `# concurrencyPolicy Allow: the overlap is intended and safe (SKIP LOCKED, leases); Forbid would delay or skip the next tick.`,
    `# startingDeadlineSeconds: a late start still covers the rest of its minute, so it starts up to a period less 5 s late.`,
    `# activeDeadlineSeconds: the budget (${maxRuntimeSeconds} s) + 60 s, beyond the window: a run is never killed while it works;`,
    `# a SIGTERM while it waits ends it with exit 0.`,
  ]
    .map((line) => `${line}\n`)
    .join('');
}

function cronJob(job: JobName) {
  const { schedule, parallelism, follows } = JOBS[job];
  const period = parseCron(schedule).periodSeconds;
  return {
    apiVersion: 'batch/v1',
    kind: 'CronJob',
    metadata: { name: `planner-jobs-${job}`, labels: { ...LABELS, 'app.kubernetes.io/component': job } },
    spec: {
      schedule,
      timeZone: 'Etc/UTC',
      // Queue jobs share rows through SKIP LOCKED, so a late run may overlap the next (a following
      // one always does: followComment); the rest run alone.
      concurrencyPolicy: parallelism > 1 || follows ? 'Allow' : 'Forbid',
      // A start missed by more than half a period (at most 5 minutes) is left to the next one.
      startingDeadlineSeconds: follows ? period - 5 : Math.min(Math.floor(period / 2), 300),
      successfulJobsHistoryLimit: 3,
      failedJobsHistoryLimit: 3,
      jobTemplate: {
        metadata: { labels: { ...LABELS, 'app.kubernetes.io/component': job } },
        spec: {
          parallelism,
          backoffLimit: 2,
          activeDeadlineSeconds: activeDeadlineSeconds(job),
          ttlSecondsAfterFinished: 86_400,
          podFailurePolicy,
          template: podTemplate(job, [job]),
        },
      },
    },
  };
}

/** Runs `planner-jobs migrate` once per apply; it removes itself after 10 minutes, so the next apply runs it again. */
function migrateJob() {
  return {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: { name: 'planner-jobs-migrate', labels: { ...LABELS, 'app.kubernetes.io/component': 'migrate' } },
    spec: {
      backoffLimit: 3,
      activeDeadlineSeconds: 600,
      ttlSecondsAfterFinished: 600,
      podFailurePolicy,
      template: podTemplate('migrate', ['migrate']),
    },
  };
}

const HEADER = '# Generated by `npm run k8s` from src/core/catalog.ts (k8s/manifests.ts); do not edit by hand.\n';
/** One YAML file of `objects`, each after its comment lines (`comments[i]`, when set). */
const yaml = (objects: object[], comments: string[] = []) =>
  HEADER + objects.map((object, i) => `---\n${comments[i] ?? ''}${stringify(object, { lineWidth: 0 })}`).join('');

/** File name (under k8s/) → content, as committed: the kustomize base and k8s/monitoring. */
export function renderManifests(): Record<string, string> {
  const groups = alertGroups();
  return {
    'cronjobs.yaml': yaml(
      JOB_NAMES.map(cronJob),
      JOB_NAMES.map((job) => (JOBS[job].follows ? followComment(job) : '')),
    ),
    'migrate-job.yaml': yaml([migrateJob()]),
    'monitoring/prometheusrule.yaml': yaml([prometheusRule(groups)]),
    'monitoring/planner-jobs.rules.yml': HEADER + stringify({ groups }, { lineWidth: 0 }),
    'monitoring/dashboard.json': `${JSON.stringify(buildDashboard(), null, 2)}\n`,
  };
}

/** The alert rules for the Prometheus Operator (monitoring.coreos.com/v1); the same groups as the plain rules file. */
function prometheusRule(groups: ReturnType<typeof alertGroups>) {
  return {
    apiVersion: 'monitoring.coreos.com/v1',
    kind: 'PrometheusRule',
    metadata: { name: 'planner-jobs', labels: { ...LABELS, 'app.kubernetes.io/component': 'monitoring' } },
    spec: { groups },
  };
}
