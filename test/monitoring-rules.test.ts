import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import {
  ALERT_NAMES,
  BACKLOG_SECONDS,
  alertGroups,
  defaultPeriodSeconds,
  promDuration,
  repeatedForSeconds,
  type AlertRule,
} from '../k8s/monitoring/rules.js';
import { JOB_NAMES, type JobName } from '../src/core/catalog.js';
import { FAMILY_NAMES } from '../src/core/metrics.js';
import { PROMTOOL, promtool, selectorsOf } from './support/promtool.js';

const RULES_FILE = 'k8s/monitoring/planner-jobs.rules.yml';
const RULES = alertGroups().flatMap((group) => group.rules);
const ruleOf = (alert: string, job: string) => RULES.find((r) => r.alert === alert && r.labels.planner_job === job)!;

/** Prometheus's humanizeDuration (template.go) for whole seconds of at least one minute. */
function humanizeDuration(seconds: number): string {
  const [d, h, m, s] = [
    Math.floor(seconds / 86_400),
    Math.floor(seconds / 3_600) % 24,
    Math.floor(seconds / 60) % 60,
    seconds % 60,
  ];
  return d ? `${d}d ${h}h ${m}m ${s}s` : h ? `${h}h ${m}m ${s}s` : `${m}m ${s}s`;
}

/** The annotations Prometheus renders for `rule` when the alert's value is `value`. */
function rendered(rule: AlertRule, value: number): Record<string, string> {
  const render = (text: string) =>
    text
      .replace('{{ $value | humanizeDuration }}', humanizeDuration(value))
      .replace('{{ $value | humanizePercentage }}', `${value * 100}%`)
      .replace('{{ $value }}', String(value));
  return Object.fromEntries(Object.entries(rule.annotations).map(([key, text]) => [key, render(text)]));
}

interface Expected {
  /** The series labels (besides planner_job) of the alert that fires. */
  labels: Record<string, string>;
  value: number;
}

/**
 * One `promtool test rules` case: the alert is silent at `silentAt` (seconds) and fires exactly
 * as expected at `firesAt`. Series have a sample, and rules are evaluated, every `step` seconds.
 */
interface Case {
  step: number;
  alert: string;
  job: JobName;
  series: Record<string, string>;
  silentAt: number;
  firesAt: number;
  fires: Expected[];
}

/** Every case, registered while the describes below are collected, then run by one promtool process. */
const CASES = new Map<string, Case>();
let dir: string;
let results: Map<string, string>;

/** A promtool unit-test file for the committed rules: the case's alert, silent and then firing. */
function testFile(c: Case) {
  const rule = ruleOf(c.alert, c.job);
  return stringify({
    rule_files: [path.resolve(RULES_FILE)],
    evaluation_interval: promDuration(c.step),
    tests: [
      {
        interval: promDuration(c.step),
        input_series: Object.entries(c.series).map(([series, values]) => ({ series, values })),
        alert_rule_test: [
          { eval_time: promDuration(c.silentAt), alertname: c.alert, exp_alerts: [] },
          {
            eval_time: promDuration(c.firesAt),
            alertname: c.alert,
            exp_alerts: c.fires.map((f) => ({
              exp_labels: { ...f.labels, ...rule.labels },
              exp_annotations: rendered(rule, f.value),
            })),
          },
        ],
      },
    ],
  });
}

beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'planner-jobs-rules-'));
  if (!PROMTOOL || CASES.size === 0) return;
  const files = await Promise.all(
    [...CASES].map(async ([name, c]) => {
      const file = path.join(dir, `${name}.test.yml`);
      await fs.writeFile(file, testFile(c));
      return file;
    }),
  );
  // One process for every case: promtool prints "Unit Testing: <file>", then SUCCESS or what FAILED.
  const { output } = promtool(['test', 'rules', ...files]);
  results = new Map(
    output
      .split(/^Unit Testing:\s+/m)
      .slice(1)
      .map((section) => [path.basename(section.slice(0, section.indexOf('\n')).trim(), '.test.yml'), section]),
  );
}, 120_000);
afterAll(() => fs.rm(dir, { recursive: true, force: true }));

/** Registers a case now and returns the test body that checks promtool's verdict on it. */
function promtoolCase(c: Case) {
  const name = `${c.alert}-${c.job}-${CASES.size}`;
  CASES.set(name, c);
  return () => {
    const section = results.get(name);
    expect(section, `promtool did not report ${name}`).toBeDefined();
    expect(section, section).toMatch(/^\s*SUCCESS/m);
    expect(section).not.toMatch(/FAILED/);
  };
}

/** `value` held at every step from time 0 until `seconds` (and a little after). */
const held = (value: number, seconds: number, step: number) => `${value}x${Math.ceil(seconds / step) + 5}`;
/** A job's test step: a tenth of its period, at least a minute, so a daily job needs tens of evaluations, not thousands. */
const stepOf = (job: JobName) => Math.max(60, defaultPeriodSeconds(job) / 10);
const labels = (job: string, instance: string, extra = '') => `{planner_job="${job}",instance="${instance}"${extra}}`;

describe('alerts: the rules are generated from the catalog, complete and valid', () => {
  it('the committed rules file holds exactly the generated groups (run `npm run k8s`)', async () => {
    expect(parse(await fs.readFile(RULES_FILE, 'utf8'))).toEqual(JSON.parse(JSON.stringify({ groups: alertGroups() })));
  });

  it('every job of the catalog has its staleness and failure alerts', () => {
    for (const job of JOB_NAMES)
      for (const alert of [
        'PlannerJobStale',
        'PlannerJobNeverSucceeded',
        'PlannerJobFailing',
        'PlannerJobUnavailable',
        'PlannerJobMisconfigured',
      ])
        expect(ruleOf(alert, job), `${alert} for ${job}`).toBeDefined();
  });

  it('every alert has a severity, a one-line summary, a description naming its job and a runbook section in docs/operations.md', async () => {
    const docs = await fs.readFile('docs/operations.md', 'utf8');
    for (const rule of RULES) {
      expect(['critical', 'warning']).toContain(rule.labels.severity);
      expect(rule.annotations.summary).not.toMatch(/\n/);
      expect(rule.annotations.description).toContain(rule.labels.planner_job);
      const anchor = rule.annotations.runbook_url.split('#')[1];
      expect(anchor, rule.alert).toBe(rule.alert.toLowerCase());
      expect(docs, `docs/operations.md has no section "### ${rule.alert}"`).toMatch(new RegExp(`^### ${rule.alert}$`, 'm'));
    }
    expect(ALERT_NAMES.length).toBeGreaterThanOrEqual(9);
  });

  it('every rule queries only metrics the tool writes', () => {
    for (const rule of RULES)
      for (const { metric } of selectorsOf(rule.expr)) expect(FAMILY_NAMES, `${rule.alert}: ${metric}`).toContain(metric);
  });

  it.skipIf(!PROMTOOL)('promtool check rules accepts the plain file and the PrometheusRule groups', async () => {
    const plain = promtool(['check', 'rules', RULES_FILE]);
    expect(plain.code, plain.output).toBe(0);
    const [, operator] = (await fs.readFile('k8s/monitoring/prometheusrule.yaml', 'utf8')).split(/^---$/m);
    const file = path.join(dir, 'from-prometheusrule.yml');
    await fs.writeFile(file, stringify({ groups: parse(operator).spec.groups }));
    const fromOperator = promtool(['check', 'rules', file]);
    expect(fromOperator.code, fromOperator.output).toBe(0);
    expect(plain.output).toContain(`${RULES.length} rules found`);
  });
});

/** Registers one case per job of the catalog, each its own test. */
const perJob = (build: (job: JobName) => Case) => {
  for (const job of JOB_NAMES) it(job, promtoolCase(build(job)));
};

describe.skipIf(!PROMTOOL)('alert PlannerJobStale: no success for twice the schedule period; turned-off jobs excluded', () => {
  perJob((job) => {
    const [period, step] = [defaultPeriodSeconds(job), stepOf(job)];
    const at = 2 * period + step;
    const series = (instance: string, enabled: number) => ({
      [`planner_jobs_last_success_timestamp_seconds${labels(job, instance)}`]: held(0, at, step),
      [`planner_jobs_schedule_period_seconds${labels(job, instance)}`]: held(period, at, step),
      [`planner_jobs_enabled${labels(job, instance)}`]: held(enabled, at, step),
    });
    return {
      alert: 'PlannerJobStale',
      job,
      step,
      series: { ...series('on', 1), ...series('off', 0) },
      silentAt: 2 * period - step,
      firesAt: at,
      fires: [{ labels: { instance: 'on' }, value: at }],
    };
  });
});

describe.skipIf(!PROMTOOL)('alert PlannerJobNeverSucceeded: runs, but none succeeded for twice the period', () => {
  perJob((job) => {
    const [period, step] = [defaultPeriodSeconds(job), stepOf(job)];
    const at = 2 * period + step;
    return {
      alert: 'PlannerJobNeverSucceeded',
      job,
      step,
      series: {
        [`planner_jobs_last_run_timestamp_seconds${labels(job, 'never')}`]: held(0, at, step),
        [`planner_jobs_enabled${labels(job, 'never')}`]: held(1, at, step),
        [`planner_jobs_last_run_timestamp_seconds${labels(job, 'succeeded')}`]: held(0, at, step),
        [`planner_jobs_last_success_timestamp_seconds${labels(job, 'succeeded')}`]: held(0, at, step),
        [`planner_jobs_last_run_timestamp_seconds${labels(job, 'off')}`]: held(0, at, step),
        [`planner_jobs_enabled${labels(job, 'off')}`]: held(0, at, step),
      },
      silentAt: 2 * period - step,
      firesAt: at,
      fires: [{ labels: { instance: 'never' }, value: 0 }],
    };
  });
});

/** Exit `code` on every run fires; a success in between, or another exit code, does not. */
function repeatedExitCase(alert: string, job: JobName, code: number): Case {
  const [lasting, step] = [repeatedForSeconds(job), stepOf(job)];
  const at = lasting + step;
  const samples = Math.ceil(at / step) + 5;
  const half = Math.floor(samples / 2);
  const other = code === 1 ? 75 : 1;
  return {
    alert,
    job,
    step,
    series: {
      [`planner_jobs_last_run_exit_code${labels(job, 'failing')}`]: held(code, at, step),
      [`planner_jobs_last_run_exit_code${labels(job, 'recovered')}`]: `${code}x${half} 0 ${code}x${samples - half}`,
      [`planner_jobs_last_run_exit_code${labels(job, 'other')}`]: held(other, at, step),
    },
    silentAt: lasting - step,
    firesAt: at,
    fires: [{ labels: { instance: 'failing' }, value: code }],
  };
}

describe.skipIf(!PROMTOOL)('alert PlannerJobFailing: exit 1 on every run for at least two runs (5 min at least)', () => {
  perJob((job) => repeatedExitCase('PlannerJobFailing', job, 1));
});

describe.skipIf(!PROMTOOL)('alert PlannerJobUnavailable: exit 75 on every run for at least two runs (5 min at least)', () => {
  perJob((job) => repeatedExitCase('PlannerJobUnavailable', job, 75));
});

describe.skipIf(!PROMTOOL)('alert PlannerJobMisconfigured: exit 78 at once', () => {
  perJob((job) => ({
    alert: 'PlannerJobMisconfigured',
    job,
    step: 60,
    series: {
      [`planner_jobs_last_run_exit_code${labels(job, 'config')}`]: '0 78x10',
      [`planner_jobs_last_run_exit_code${labels(job, 'failed')}`]: '1x10',
      [`planner_jobs_last_run_exit_code${labels(job, 'down')}`]: '75x10',
    },
    silentAt: 0,
    firesAt: 60,
    fires: [{ labels: { instance: 'config' }, value: 78 }],
  }));
});

describe.skipIf(!PROMTOOL)(
  `alert PlannerNotificationsBacklog: the oldest due notification waited over ${BACKLOG_SECONDS / 60} minutes, for 5 minutes`,
  () => {
    it(
      'fires for the backed-up queue only',
      promtoolCase({
        alert: 'PlannerNotificationsBacklog',
        job: 'notifications',
        step: 60,
        series: {
          [`planner_jobs_queue_oldest_due_age_seconds${labels('notifications', 'backed-up')}`]: '900x20',
          [`planner_jobs_queue_oldest_due_age_seconds${labels('notifications', 'draining')}`]: '30x20',
          [`planner_jobs_queue_oldest_due_age_seconds${labels('notifications', 'brief')}`]: '0 900x3 0x20',
        },
        silentAt: 240,
        firesAt: 360,
        fires: [{ labels: { instance: 'backed-up' }, value: 900 }],
      }),
    );
  },
);

/** A run's push counters, held for `minutes`. */
function pushRun(instance: string, counts: Record<string, number>, minutes: number) {
  return Object.fromEntries(
    Object.entries(counts).map(([counter, n]) => [
      `planner_jobs_last_run_items${labels('notifications', instance, `,counter="push_${counter}"`)}`,
      `${n}x${minutes}`,
    ]),
  );
}

describe.skipIf(!PROMTOOL)('alert PlannerPushDeliveriesFailing: most push attempts of each run fail, for 15 minutes', () => {
  it(
    'fires at 80% failed or retried out of 10; silent for few attempts or a healthy share',
    promtoolCase({
      alert: 'PlannerPushDeliveriesFailing',
      job: 'notifications',
      step: 60,
      series: {
        ...pushRun('failing', { delivered: 2, failed: 6, retry: 2, gone: 0 }, 30),
        ...pushRun('few', { delivered: 0, failed: 3, retry: 0, gone: 0 }, 30),
        ...pushRun('healthy', { delivered: 90, failed: 10, retry: 0, gone: 0 }, 30),
      },
      silentAt: 14 * 60,
      firesAt: 16 * 60,
      fires: [{ labels: { instance: 'failing' }, value: 0.8 }],
    }),
  );
});

describe.skipIf(!PROMTOOL)(
  'alert PlannerPushSubscriptionsDeleted: many push attempts find the subscription gone, for 30 minutes',
  () => {
    it(
      'fires at 50% gone; silent at the usual 2%',
      promtoolCase({
        alert: 'PlannerPushSubscriptionsDeleted',
        job: 'notifications',
        step: 60,
        series: {
          ...pushRun('churning', { delivered: 5, failed: 0, retry: 0, gone: 5 }, 45),
          ...pushRun('usual', { delivered: 98, failed: 0, retry: 0, gone: 2 }, 45),
        },
        silentAt: 29 * 60,
        firesAt: 31 * 60,
        fires: [{ labels: { instance: 'churning' }, value: 0.5 }],
      }),
    );
  },
);

describe.skipIf(!PROMTOOL)('alert PlannerExportsFailing: an export failed for good within the last hour', () => {
  const series = {
    [`planner_jobs_last_run_items${labels('exports', 'failed', ',counter="failed_for_good"')}`]: '0x10 1 0x100',
    [`planner_jobs_last_run_items${labels('exports', 'fine', ',counter="failed_for_good"')}`]: '0x110',
  };
  const failedAt = { alert: 'PlannerExportsFailing', job: 'exports', step: 60, series } as const;
  it(
    'fires within the hour after the failure',
    promtoolCase({ ...failedAt, silentAt: 5 * 60, firesAt: 30 * 60, fires: [{ labels: { instance: 'failed' }, value: 1 }] }),
  );
  it('is silent again an hour later', promtoolCase({ ...failedAt, silentAt: 75 * 60, firesAt: 5 * 60, fires: [] }));
});
