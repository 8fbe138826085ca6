import { Command, InvalidArgumentError, Option } from 'commander';
import { JOBS } from './jobs/index.js';
import { problems, verdictOf, writeResults, type Row } from './report.js';
import { SCENARIOS } from './scenarios/index.js';
import { ScenarioContext, seededRandom, type Scenario } from './scenarios/support.js';
import { ChaosServer } from './server.js';
import type { ChaosJob } from './types.js';

/** Every child has its own timeout; a scenario as a whole gets this much before it is a FAIL. */
const SCENARIO_TIMEOUT_MS = { full: 240_000, quick: 150_000 };
const CHILD_TIMEOUT_MS = { full: 120_000, quick: 90_000 };
/** Scenarios run side by side in `--quick` (each has its own database; none restarts the server there). */
const QUICK_PARALLEL = 2;

const program = new Command('chaos')
  .description(
    'Breaks the jobs against a real PostgreSQL and counts, from the database and the receivers, what was duplicated or lost',
  )
  .option('--quick', 'fewer items and kills, and only the scenarios marked quick (for CI on every change)', false)
  .addOption(new Option('--job <name...>', 'only these jobs').choices(JOBS.map((job) => job.name)))
  .addOption(new Option('--scenario <name...>', 'only these scenarios').choices(SCENARIOS.map((s) => s.name)))
  .option('--items <n>', 'items per scenario instead of the job default', (value) => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('--items takes a positive whole number');
    return n;
  })
  .option('--seed <n>', 'seed of the random kill moments (printed with the results, to replay a run)', (value) => Number(value))
  .option('--results <dir>', 'where latest.md and latest.json go', 'chaos/results')
  .action(
    async (options: { quick: boolean; job?: string[]; scenario?: string[]; items?: number; seed?: number; results: string }) => {
      const seed = options.seed ?? Math.floor(Math.random() * 2 ** 31);
      const jobs = JOBS.filter((job) => !options.job || options.job.includes(job.name));
      const scenarios = SCENARIOS.filter((s) =>
        options.scenario ? options.scenario.includes(s.name) : !options.quick || s.quick,
      );
      const started = Date.now();
      const server = await ChaosServer.start();
      for (const signal of ['SIGINT', 'SIGTERM'] as const)
        process.once(signal, () => void server.stop().finally(() => process.exit(130)));
      const cells = jobs.flatMap((job) => scenarios.filter((s) => s.appliesTo(job)).map((scenario) => ({ job, scenario })));
      const rows: Row[] = [];
      let next = 0;
      const worker = async () => {
        for (let index = next++; index < cells.length; index = next++) {
          const { job, scenario } = cells[index];
          const row = await runScenario(server, job, scenario, { ...options, seed: seed + index });
          rows[index] = row;
          process.stderr.write(`chaos: ${job.name} × ${scenario.name}: ${row.verdict} (${row.note})\n`);
        }
      };
      try {
        // The PostgreSQL restart would break the neighbours' runs: only --quick (which has none) runs side by side.
        const parallel = options.quick && !scenarios.some((s) => s.name === 'postgres-restart') ? QUICK_PARALLEL : 1;
        await Promise.all(Array.from({ length: parallel }, worker));
      } finally {
        await server.stop();
      }
      const markdown = await writeResults(options.results, rows, {
        quick: options.quick,
        seed,
        server: server.owned ? 'embedded PostgreSQL' : 'TEST_DATABASE_URL',
        seconds: (Date.now() - started) / 1000,
      });
      process.stdout.write(markdown);
      process.exitCode = rows.some((row) => row.verdict === 'FAIL') ? 1 : 0;
    },
  );

async function runScenario(
  server: ChaosServer,
  job: ChaosJob,
  scenario: Scenario,
  options: { quick: boolean; items?: number; seed: number },
): Promise<Row> {
  const sizes = (scenario.name === 'service-faults' && job.faultItems) || job.items;
  const items = options.items ?? (options.quick ? sizes.quick : Math.ceil(sizes.full * scenario.scale));
  const base = {
    job: job.name,
    scenario: scenario.name,
    items,
    exitCodes: [] as number[],
    badExits: [],
    faults: 0,
    allowedDuplicates: 0,
  };
  const skipped = scenario.skip?.(server);
  if (skipped) return { ...base, recoverySeconds: null, verdict: 'skipped', note: skipped };
  const started = Date.now();
  const database = await server.database();
  const world = await job.world(items, { serviceFaults: scenario.name === 'service-faults' });
  const mode = options.quick ? 'quick' : 'full';
  const ctx = new ScenarioContext(
    server,
    job,
    world,
    database,
    options.quick,
    seededRandom(options.seed),
    CHILD_TIMEOUT_MS[mode],
  );
  let timer: NodeJS.Timeout | undefined;
  try {
    await world.seed(ctx.knex);
    if (scenario.calibrated(job)) await ctx.calibrate();
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`scenario timed out after ${SCENARIO_TIMEOUT_MS[mode] / 1000} s`)),
        SCENARIO_TIMEOUT_MS[mode],
      );
    });
    const running = scenario.run(ctx);
    running.catch(() => undefined); // after a timeout it fails against a dropped database: nobody awaits it then
    const result = await Promise.race([running, timeout]);
    const counts = await ctx.check();
    const row = {
      ...base,
      ...counts,
      recoverySeconds: result.recoverySeconds,
      faults: result.faults,
      allowedDuplicates: job.inFlightPerFault ? result.faults * job.inFlightPerFault + (counts.ambiguous ?? 0) : 0,
      halfWrittenAfterFault: result.halfWrittenAfterFault,
      wrong: counts.wrong + (result.wrong ?? 0),
      exitCodes: result.runs.map((run) => run.code),
      seconds: (Date.now() - started) / 1000,
      badExits: result.runs.filter((run) => !run.allowed.includes(run.code)),
      failedRuns: result.runs.filter((run) => run.stderrTail),
    };
    const note = [...problems(row), counts.note, result.note].filter(Boolean).join('; ');
    return { ...row, note, verdict: verdictOf(row) };
  } catch (err) {
    const message = (err as Error).message;
    return {
      ...base,
      recoverySeconds: null,
      exitCodes: ctx.runs.map((run) => run.code),
      verdict: 'FAIL',
      note: `harness error: ${message.split('\n')[0].slice(0, 200)}`,
    };
  } finally {
    clearTimeout(timer);
    await ctx.close().catch(() => undefined);
    await world.close().catch(() => undefined);
    await server.drop(database.name).catch(() => undefined);
  }
}

await program.parseAsync();
