/**
 * `npm run bench -- latency`: how late a reminder reaches the push service when the stock
 * crontab runs the jobs, following (PLANNER_FOLLOW=true, the stock lines) and plain (the same
 * lines without it: one run per minute that exits once drained, the behaviour before following).
 *
 * A cron simulator starts the stock crontab's `reminders` and `notifications` lines (from
 * `renderCrontab`, through /bin/sh, as cron does) at the top of every minute their schedule
 * names; the other jobs' lines have no work here and are left out. The test push service
 * records when each message arrives; lateness is arrival minus `remind_at`. Scenarios:
 * - spread: 300 reminders due at random instants over 3 minutes, a third of them written by
 *   the "API" only 5-10 s before they are due;
 * - spike: 5,000 reminders all due at the same second;
 * - downtime: reminders that fell due while nothing ran (up to 2 minutes before the first
 *   tick), and some older than REMINDER_MAX_LATENESS (1 hour here), which must be expired.
 * Every reminder must arrive exactly once (or be expired): a duplicate or a missing one is in
 * the row's note and fails the benchmark.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { CronExpressionParser } from 'cron-parser';
import type { Knex } from 'knex';
import webpush from 'web-push';
import { renderCrontab } from '../src/commands/crontab.js';
import { loadConfig } from '../src/core/config.js';
import { PushService } from '../test/support/pushService.js';
import type { Benchmark, Measurement } from './support/benchmark.js';
import { BIN } from './support/measure.js';
import type { BenchServer } from './support/server.js';

const MINUTE = 60_000;
const USERS = 1000;
/** REMINDER_MAX_LATENESS in the runs' environment: the downtime's oldest reminders are past it. */
const MAX_LATENESS = 'PT1H';
/** After the last expected arrival: time for a duplicate to show up before the runs are stopped. */
const SETTLE_MS = 3_000;

type Mode = 'following' | 'plain';

/** One reminder of a scenario: when it is due, and when the "API" writes it (undefined: before the first tick). */
interface Planned {
  dueAt: number;
  writtenAt?: number;
}

interface Scenario {
  name: 'spread' | 'spike' | 'downtime';
  /** What it is, for the README. */
  what: string;
  /** The reminders, from the first tick `tick` (epoch ms). */
  plan(tick: number): Planned[];
  /** How many of them must be expired rather than delivered. */
  expired: number;
  /** Wall time after the first tick by which everything must have arrived, per mode. */
  limitMs: Record<Mode, number>;
}

const uniform = (from: number, to: number) => from + Math.random() * (to - from);

const SCENARIOS: Scenario[] = [
  {
    name: 'spread',
    what: '300 reminders due at random instants over 3 minutes, 100 of them written 5-10 s before they are due',
    plan: (tick) =>
      Array.from({ length: 300 }, (_, i) => {
        const dueAt = tick + uniform(15_000, 195_000);
        return { dueAt, writtenAt: i % 3 === 0 ? dueAt - uniform(5_000, 10_000) : undefined };
      }),
    expired: 0,
    limitMs: { following: 240_000, plain: 360_000 },
  },
  {
    name: 'spike',
    what: '5,000 reminders all due at the same second',
    plan: (tick) => Array.from({ length: 5000 }, () => ({ dueAt: tick + 20_000 })),
    expired: 0,
    limitMs: { following: 120_000, plain: 240_000 },
  },
  {
    name: 'downtime',
    what: '200 reminders that fell due in the 2 minutes before the first run, and 20 older than REMINDER_MAX_LATENESS (1 h)',
    plan: (tick) => [
      ...Array.from({ length: 200 }, () => ({ dueAt: tick - uniform(1_000, 120_000) })),
      ...Array.from({ length: 20 }, () => ({ dueAt: tick - uniform(2, 3) * 3_600_000 })),
    ],
    expired: 20,
    limitMs: { following: 90_000, plain: 180_000 },
  },
];

/** The scenarios' runs that go side by side (little CPU each), then one by one (the spike takes both cores). */
const PHASES: [Scenario['name'], Mode][][] = [
  [
    ['spread', 'following'],
    ['spread', 'plain'],
    ['downtime', 'following'],
    ['downtime', 'plain'],
  ],
  [['spike', 'following']],
  [['spike', 'plain']],
];

export interface LatencyRow extends Measurement {
  scenario: Scenario['name'];
  mode: Mode;
  reminders: number;
  delivered: number;
  expired: number;
  duplicates: number;
  missing: number;
  /**
   * Lateness in seconds over the delivered reminders' first arrivals: arrival minus remind_at, or
   * minus the first tick for a reminder that fell due before any run (downtime).
   */
  p50: number;
  p99: number;
  max: number;
}

/** A crontab line: its schedule and its shell command. */
interface CronLine {
  schedule: string;
  command: string;
}

/** The stock crontab's lines of the two jobs, for this scenario's environment file and log directory. */
function stockLines(dir: string, mode: Mode): CronLine[] {
  const crontab = renderCrontab(loadConfig({}), { environmentFile: path.join(dir, 'env'), logDir: dir, bin: BIN });
  return crontab
    .split('\n')
    .filter((line) => / (reminders|notifications) >> /.test(line) && !line.startsWith('#'))
    .map((line) => {
      const fields = line.split(' ');
      const command = fields.slice(5).join(' ');
      return {
        schedule: fields.slice(0, 5).join(' '),
        command: mode === 'plain' ? command.replace('PLANNER_FOLLOW=true ', '') : command,
      };
    });
}

/** Starts each line through /bin/sh at every minute its schedule names, as cron does, until stopped. */
class CronSimulator {
  private readonly running = new Set<ChildProcess>();
  private timer?: NodeJS.Timeout;

  constructor(private readonly lines: CronLine[]) {}

  /** From the tick `firstTick` (epoch ms, the top of a minute) on. */
  start(firstTick: number): void {
    const at = (tick: number) => {
      this.timer = setTimeout(() => {
        for (const line of this.lines) if (fires(line.schedule, tick)) this.launch(line.command);
        at(tick + MINUTE);
      }, tick - Date.now());
    };
    at(firstTick);
  }

  /** No more ticks; SIGTERM to what still runs (a following run waiting exits 0), then waits for every run. */
  async stop(): Promise<void> {
    clearTimeout(this.timer);
    const exits = [...this.running].map((child) => new Promise((resolve) => child.once('close', resolve)));
    for (const child of this.running) process.kill(-child.pid!, 'SIGTERM');
    await Promise.all(exits);
  }

  private launch(command: string): void {
    // Its own process group: SIGTERM reaches the job, not only its shell.
    const child = spawn('/bin/sh', ['-c', command], { detached: true, stdio: 'ignore', env: { PATH: process.env.PATH } });
    this.running.add(child);
    child.once('close', () => this.running.delete(child));
  }
}

const fires = (schedule: string, tick: number) =>
  CronExpressionParser.parse(schedule, { currentDate: new Date(tick - 1) })
    .next()
    .getTime() === tick;

/** The top of the minute at least `leadMs` from now. */
const nextTick = (leadMs: number) => Math.ceil((Date.now() + leadMs) / MINUTE) * MINUTE;

/** Nearest-rank percentile of sorted values. */
const percentile = (sorted: number[], p: number) => sorted[Math.max(0, Math.ceil((p / 100) * sorted.length) - 1)] ?? NaN;

/** `USERS` users, each with one subscription at `push`: their ids. */
async function seedUsers(knex: Knex, push: PushService): Promise<string[]> {
  const subscriptions = Array.from({ length: USERS }, () => push.subscribe());
  const rows = await knex.raw<{ rows: { id: string }[] }>(
    `WITH s AS (SELECT * FROM json_to_recordset(:subs::json) AS s (endpoint text, p256dh text, auth text, n int)),
          u AS (INSERT INTO users (email) SELECT 'latency-' || n || '@example.test' FROM s RETURNING id, email)
     INSERT INTO push_subscriptions (user_id, endpoint, p256dh, auth)
     SELECT u.id, s.endpoint, s.p256dh, s.auth FROM s JOIN u ON u.email = 'latency-' || s.n || '@example.test'
     RETURNING user_id AS id`,
    { subs: JSON.stringify(subscriptions.map((subscription, n) => ({ ...subscription, n }))) },
  );
  return rows.rows.map((row) => row.id);
}

/** Writes `planned` (a knex query runs only once awaited). */
const writeReminders = async (knex: Knex, users: string[], planned: Planned[], offset: number) =>
  await knex.raw(
    `INSERT INTO reminders (user_id, remind_at, message)
     SELECT user_id, remind_at, message FROM json_to_recordset(:rows::json) AS r (user_id uuid, remind_at timestamptz, message text)`,
    {
      rows: JSON.stringify(
        planned.map((p, i) => ({
          user_id: users[(offset + i) % users.length],
          remind_at: new Date(p.dueAt).toISOString(),
          message: `latency ${offset + i}`,
        })),
      ),
    },
  );

/** One scenario in one mode on its own database, push service and cron simulator. */
async function runScenario(server: BenchServer, scenario: Scenario, mode: Mode, vapid: webpush.VapidKeys): Promise<LatencyRow> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), `planner-jobs-latency-${scenario.name}-${mode}-`));
  const push = await PushService.start(vapid.publicKey);
  const db = await server.database();
  const timers: NodeJS.Timeout[] = [];
  try {
    const users = await seedUsers(db.knex, push);
    const env = {
      DATABASE_URL: db.url,
      VAPID_PUBLIC_KEY: vapid.publicKey,
      VAPID_PRIVATE_KEY: vapid.privateKey,
      VAPID_SUBJECT: 'mailto:bench@example.test',
      REMINDER_MAX_LATENESS: MAX_LATENESS,
      ...push.clientEnv,
    };
    await fs.writeFile(
      path.join(dir, 'env'),
      Object.entries(env)
        .map(([k, v]) => `${k}='${v}'\n`)
        .join(''),
    );
    const tick = nextTick(10_000);
    const planned = scenario.plan(tick);
    const before = planned.filter((p) => p.writtenAt === undefined);
    await writeReminders(db.knex, users, before, 0);
    planned
      .filter((p) => p.writtenAt !== undefined)
      .forEach((p, i) =>
        timers.push(setTimeout(() => void writeReminders(db.knex, users, [p], before.length + i), p.writtenAt! - Date.now())),
      );

    const cron = new CronSimulator(stockLines(dir, mode));
    cron.start(tick);
    const expected = planned.length - scenario.expired;
    const deadline = tick + scenario.limitMs[mode];
    while (push.received.length < expected && Date.now() < deadline) await sleep(250);
    await sleep(SETTLE_MS);
    await cron.stop();
    return await measure(db.knex, push, scenario, mode, tick);
  } finally {
    for (const timer of timers) clearTimeout(timer);
    await db.knex.destroy();
    await push.close();
    await fs.rm(dir, { recursive: true, force: true });
  }
}

/** Lateness of each delivered reminder's first arrival, and the exactly-once check. */
async function measure(knex: Knex, push: PushService, scenario: Scenario, mode: Mode, tick: number): Promise<LatencyRow> {
  const { rows } = await knex.raw<{ rows: { notification: string; remind_at: Date }[] }>(
    `SELECT n.id AS notification, r.remind_at FROM reminders r JOIN notifications n ON n.dedupe_key = 'reminder:' || r.id`,
  );
  const [{ reminders, expired }] = (
    await knex.raw<{ rows: { reminders: number; expired: number }[] }>(
      `SELECT count(*)::int AS reminders, (count(*) FILTER (WHERE outcome = 'expired'))::int AS expired FROM reminders`,
    )
  ).rows;
  // From when a run could first see it: its remind_at, or the first tick for one that fell due before any run (downtime).
  const dueOf = new Map(rows.map((row) => [row.notification, Math.max(row.remind_at.getTime(), tick)]));
  const firstArrival = new Map<string, number>();
  let duplicates = 0;
  for (const message of push.received) {
    if (firstArrival.has(message.payload.id)) duplicates += 1;
    else firstArrival.set(message.payload.id, message.receivedAt);
  }
  const lateness = [...firstArrival].map(([id, at]) => (at - dueOf.get(id)!) / 1000).sort((a, b) => a - b);
  const delivered = firstArrival.size;
  const missing = reminders - expired - delivered;
  const [p50, p99, max] = [percentile(lateness, 50), percentile(lateness, 99), lateness.at(-1) ?? NaN];
  const last = Math.max(...firstArrival.values());
  const once = duplicates === 0 && missing === 0 && expired === scenario.expired;
  return {
    variant: `${scenario.name}, ${mode}`,
    scenario: scenario.name,
    mode,
    items: delivered,
    seconds: (last - tick) / 1000,
    threads: 3,
    compared:
      `${scenario.what}; the stock crontab lines started by a cron simulator at the top of every minute` +
      (mode === 'following'
        ? ' (PLANNER_FOLLOW=true: each run follows until its next tick + 15 s).'
        : ' without PLANNER_FOLLOW (one run per minute that exits once drained, the behaviour before following).'),
    reminders,
    delivered,
    expired,
    duplicates,
    missing,
    p50,
    p99,
    max,
    note:
      `lateness p50 ${p50.toFixed(2)} s, p99 ${p99.toFixed(2)} s, max ${max.toFixed(2)} s; ` +
      (once
        ? `each delivered exactly once${expired ? `, ${expired} expired` : ''}`
        : `NOT exactly once: ${duplicates} duplicate(s), ${missing} missing, ${expired} expired`),
  };
}

export const latencyBench: Benchmark = {
  name: 'latency',
  describe: () => 'latency: reminders from remind_at to the push service under the stock crontab, following and plain',
  async run(server) {
    const vapid = webpush.generateVAPIDKeys();
    const rows: LatencyRow[] = [];
    for (const phase of PHASES) {
      process.stderr.write(`latency: ${phase.map(([name, mode]) => `${name} ${mode}`).join(', ')}\n`);
      const scenario = (name: Scenario['name']) => SCENARIOS.find((s) => s.name === name)!;
      rows.push(...(await Promise.all(phase.map(([name, mode]) => runScenario(server, scenario(name), mode, vapid)))));
    }
    // The table's order: each scenario, following first.
    const order = SCENARIOS.flatMap((s) => (['following', 'plain'] as const).map((mode) => `${s.name}, ${mode}`));
    rows.sort((a, b) => order.indexOf(a.variant) - order.indexOf(b.variant));
    const broken = rows.filter((row) => row.duplicates > 0 || row.missing > 0);
    if (broken.some((row) => row.mode === 'following')) process.exitCode = 1;
    for (const row of broken) process.stderr.write(`latency: ${row.variant}: ${row.note}\n`);
    return rows;
  },
};
