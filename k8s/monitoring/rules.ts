import { JOBS, JOB_NAMES, type JobName } from '../../src/core/catalog.js';
import { ExitCode } from '../../src/core/errors.js';
import { parseCron } from '../../src/core/schedule.js';

/**
 * The Prometheus alerting rules, built from the job catalog: every job (and every job added
 * later) gets its staleness and failure alerts, with durations from its schedule; the queue
 * alerts watch notifications and exports. Each rule uses only the metrics src/core/metrics.ts
 * writes (test/monitoring-rules.test.ts checks that, and runs `promtool test rules` on them).
 */

/** Where each alert's runbook lives: the sections of docs/operations.md under "Alerts". Change it for a fork, then `npm run k8s`. */
export const RUNBOOK_BASE = 'https://github.com/planner-jobs/planner-jobs/blob/main/docs/operations.md';

/** A queue whose oldest due notification has waited this long is backed up. */
export const BACKLOG_SECONDS = 10 * 60;
/** "Mostly failing": more than this share of a run's push attempts failed or must be retried. */
export const PUSH_FAILING_SHARE = 0.5;
/** Normal churn deletes a few percent of subscriptions per run; more than this share is unusual. */
export const PUSH_GONE_SHARE = 0.2;
/** Fewer push attempts than this in a run say nothing about a share. */
export const MIN_PUSH_ATTEMPTS = 10;

export type Severity = 'critical' | 'warning';

/** One Prometheus alerting rule (prometheus.io/docs/prometheus/latest/configuration/alerting_rules). */
export interface AlertRule {
  alert: string;
  expr: string;
  for?: string;
  labels: { severity: Severity; planner_job: string };
  annotations: { summary: string; description: string; runbook_url: string };
}

export interface RuleGroup {
  name: string;
  rules: AlertRule[];
}

/** Seconds as a Prometheus duration: `90` → `1m30s`, `129600` → `1d12h` (units d, h, m, s). */
export function promDuration(seconds: number): string {
  const units: [string, number][] = [
    ['d', 86_400],
    ['h', 3_600],
    ['m', 60],
    ['s', 1],
  ];
  let rest = Math.round(seconds);
  let text = '';
  for (const [unit, size] of units) {
    if (rest >= size) {
      text += `${Math.floor(rest / size)}${unit}`;
      rest %= size;
    }
  }
  return text || '0s';
}

/** The catalog's default schedule period of a job, in seconds. */
export const defaultPeriodSeconds = (job: JobName) => parseCron(JOBS[job].schedule).periodSeconds;

/** How long a failing exit code must hold: two runs at least, and at least 5 minutes for the every-minute jobs. */
export const repeatedForSeconds = (job: JobName) => Math.max(300, 1.5 * defaultPeriodSeconds(job));

/** The runbook link of an alert: its own section under "Alerts" in docs/operations.md. */
export const runbookUrl = (alert: string) => `${RUNBOOK_BASE}#${alert.toLowerCase()}`;

const selector = (job: JobName, extra = '') => `{planner_job="${job}"${extra}}`;

function rule(
  alert: string,
  job: JobName,
  severity: Severity,
  expr: string,
  forSeconds: number,
  summary: string,
  description: string,
): AlertRule {
  return {
    alert,
    expr,
    ...(forSeconds > 0 && { for: promDuration(forSeconds) }),
    labels: { severity, planner_job: job },
    annotations: { summary, description, runbook_url: runbookUrl(alert) },
  };
}

/** The alerts every job gets. `unless planner_jobs_enabled == 0` leaves a turned-off job alone. */
function jobRules(job: JobName): AlertRule[] {
  const s = selector(job);
  const notDisabled = `unless planner_jobs_enabled${s} == 0`;
  const period = promDuration(defaultPeriodSeconds(job));
  const repeated = repeatedForSeconds(job);
  return [
    rule(
      'PlannerJobStale',
      job,
      'critical',
      `time() - planner_jobs_last_success_timestamp_seconds${s} > 2 * planner_jobs_schedule_period_seconds${s} ${notDisabled}`,
      0,
      `planner-jobs ${job} has not succeeded for twice its schedule period`,
      `The last successful run of ${job} ended {{ $value | humanizeDuration }} ago, more than twice the period of its schedule ` +
        `(the rule of \`status --check\`; default schedule ${JOBS[job].schedule}, every ${period}).`,
    ),
    rule(
      'PlannerJobNeverSucceeded',
      job,
      'warning',
      `planner_jobs_last_run_timestamp_seconds${s} unless planner_jobs_last_success_timestamp_seconds${s} ${notDisabled}`,
      2 * defaultPeriodSeconds(job),
      `planner-jobs ${job} runs but has never succeeded`,
      `${job} has run, but no run of it has succeeded for twice its schedule period (${promDuration(2 * defaultPeriodSeconds(job))}); its last exit code tells why.`,
    ),
    rule(
      'PlannerJobFailing',
      job,
      'warning',
      `planner_jobs_last_run_exit_code${s} == ${ExitCode.failed}`,
      repeated,
      `planner-jobs ${job} keeps failing (exit 1)`,
      `Every run of ${job} for the last ${promDuration(repeated)} ended with exit 1: items failed, or the run stopped on an error.`,
    ),
    rule(
      'PlannerJobUnavailable',
      job,
      'warning',
      `planner_jobs_last_run_exit_code${s} == ${ExitCode.unavailable}`,
      repeated,
      `planner-jobs ${job} cannot reach a service (exit 75)`,
      `Every run of ${job} for the last ${promDuration(repeated)} ended with exit 75: the database or export storage could not be reached.`,
    ),
    rule(
      'PlannerJobMisconfigured',
      job,
      'critical',
      `planner_jobs_last_run_exit_code${s} == ${ExitCode.config}`,
      0,
      `planner-jobs ${job} refuses its configuration (exit 78)`,
      `The last run of ${job} ended with exit 78: a missing or malformed variable, a service refusing the configuration, or the schema behind. It will fail alike until fixed.`,
    ),
  ];
}

const pushAttempts = `sum without (counter) (planner_jobs_last_run_items{planner_job="notifications",counter=~"push_(delivered|failed|retry|gone)"})`;
const pushCount = (pattern: string) =>
  `sum without (counter) (planner_jobs_last_run_items{planner_job="notifications",counter=~"${pattern}"})`;

/** The alerts on the queues: notifications backing up, push failing, subscriptions going away, exports failing. */
function queueRules(): AlertRule[] {
  return [
    rule(
      'PlannerNotificationsBacklog',
      'notifications',
      'critical',
      `planner_jobs_queue_oldest_due_age_seconds{planner_job="notifications"} > ${BACKLOG_SECONDS}`,
      300,
      'planner-jobs notifications: the queue is backing up',
      `When the last notifications run ended, the oldest due pending notification had waited {{ $value | humanizeDuration }} (more than ${promDuration(BACKLOG_SECONDS)}), for 5 minutes.`,
    ),
    rule(
      'PlannerPushDeliveriesFailing',
      'notifications',
      'warning',
      `${pushCount('push_(failed|retry)')} / ${pushAttempts} > ${PUSH_FAILING_SHARE} and ${pushAttempts} >= ${MIN_PUSH_ATTEMPTS}`,
      900,
      'planner-jobs notifications: most push deliveries fail',
      `For 15 minutes, more than ${PUSH_FAILING_SHARE * 100}% of each notifications run's Web Push attempts failed or had to be retried (now {{ $value | humanizePercentage }}).`,
    ),
    rule(
      'PlannerPushSubscriptionsDeleted',
      'notifications',
      'warning',
      `${pushCount('push_gone')} / ${pushAttempts} > ${PUSH_GONE_SHARE} and ${pushAttempts} >= ${MIN_PUSH_ATTEMPTS}`,
      1800,
      'planner-jobs notifications: push subscriptions are being deleted at an unusual rate',
      `For 30 minutes, more than ${PUSH_GONE_SHARE * 100}% of each notifications run's push attempts found the subscription gone (404/410) and deleted it (now {{ $value | humanizePercentage }}).`,
    ),
    rule(
      'PlannerExportsFailing',
      'exports',
      'warning',
      `sum without (counter) (max_over_time(planner_jobs_last_run_items{planner_job="exports",counter="failed_for_good"}[1h])) > 0`,
      0,
      'planner-jobs exports: exports failed for good',
      'In the last hour, exports runs failed {{ $value }} export(s) for good (all attempts spent); the users got no download link.',
    ),
  ];
}

/** Every rule group: one per job, then the queues. */
export function alertGroups(): RuleGroup[] {
  return [
    ...JOB_NAMES.map((job) => ({ name: `planner-jobs.${job}`, rules: jobRules(job) })),
    { name: 'planner-jobs.queues', rules: queueRules() },
  ];
}

/** Every alert name, once, in the order the groups define them (each has a runbook section). */
export const ALERT_NAMES = [...new Set(alertGroups().flatMap((group) => group.rules.map((r) => r.alert)))];
