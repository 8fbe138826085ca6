import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Command, InvalidArgumentError } from 'commander';
import type { Benchmark, Measurement } from './support/benchmark.js';
import { BenchServer } from './support/server.js';
import { combinedTable, LEGEND, medianOf, printTable, type JobRows } from './support/table.js';
import { cleanupTokensBench } from './cleanup-tokens.js';
import { exportBench } from './export.js';
import { latencyBench } from './latency.js';
import { notificationsBench } from './notifications.js';
import { overdueBench } from './overdue.js';
import { pruneBench } from './prune.js';
import { remindersBench } from './reminders.js';
import { recurringBench } from './recurring.js';
import { rolloverBench } from './rollover.js';

const RESULTS = 'bench/results';

/** Every benchmark, by the name `npm run bench -- <name>` takes. */
const BENCHMARKS: Benchmark[] = [
  recurringBench,
  overdueBench,
  rolloverBench,
  cleanupTokensBench,
  remindersBench,
  notificationsBench,
  exportBench,
  pruneBench,
];

/** Benchmarks run only by name, not by `all`: they take real minutes whatever the rows (latency follows the clock's ticks). */
const BY_NAME_ONLY: Benchmark[] = [latencyBench];

const program = new Command('bench')
  .argument('<name>', `one of: ${[...BENCHMARKS, ...BY_NAME_ONLY].map((b) => b.name).join(', ')}, all`)
  .option('--rows <n>', 'rows to seed', (value) => {
    const n = Number(value.replace(/_/g, ''));
    if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('--rows takes a positive whole number');
    return n;
  })
  .option(
    '--repeat <n>',
    "run each benchmark n times: per variant the run with the median time, and the median of each run's ratios (a busy machine is noisy)",
    (value) => {
      const n = Number(value);
      if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('--repeat takes a positive whole number');
      return n;
    },
  )
  .action(async (name: string, options: { rows?: number; repeat?: number }) => {
    const chosen = name === 'all' ? BENCHMARKS : [...BENCHMARKS, ...BY_NAME_ONLY].filter((b) => b.name === name);
    if (chosen.length === 0) program.error(`unknown benchmark "${name}"`, { exitCode: 64 });
    const server = await BenchServer.start();
    // An interrupted benchmark (Ctrl-C, a timeout) must not leave its embedded server running.
    for (const signal of ['SIGINT', 'SIGTERM'] as const) {
      process.once(signal, () => {
        void server.stop().finally(() => process.exit(130));
      });
    }
    const machine = `${os.cpus().length} × ${os.cpus()[0]?.model ?? 'cpu'}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}, ${await server.version()}`;
    process.stdout.write(`Machine: ${machine}\n\n`);
    const tables: string[] = [];
    const jobs: JobRows[] = [];
    try {
      for (const benchmark of chosen) {
        const requested = options.rows ?? 100_000;
        const rows = name === 'all' ? Math.min(requested, benchmark.maxRowsInAll ?? requested) : requested;
        const runs: Measurement[][] = [];
        const title = benchmark.describe({ rows });
        const repeat = options.repeat ?? 1;
        for (let i = 0; i < repeat; i++) {
          runs.push(await benchmark.run(server, { rows }));
          // A long repeated run shows what it has so far (on a busy machine it may be cut short).
          if (i < repeat - 1) printTable(`${title}, after run ${i + 1} of ${repeat}`, medianOf(runs));
        }
        const medians = medianOf(runs);
        tables.push(printTable(title, medians));
        jobs.push({ job: benchmark.name, title, rows: medians });
      }
    } finally {
      await server.stop();
    }
    await fs.mkdir(RESULTS, { recursive: true });
    const header = `Machine: ${machine}. ${new Date().toISOString().slice(0, 10)}, \`npm run bench -- ${process.argv.slice(2).join(' ')}\`.`;
    const json = {
      machine,
      date: new Date().toISOString(),
      command: `npm run bench -- ${process.argv.slice(2).join(' ')}`,
      jobs,
    };
    // <name>.json feeds `npm run readme:figures` (all.json its table; notifications.json, with --repeat, its medians).
    await fs.writeFile(path.join(RESULTS, `${name}.json`), `${JSON.stringify(json, null, 2)}\n`);
    if (name !== 'all') {
      await fs.writeFile(path.join(RESULTS, `${name}.md`), [header, '', ...tables, LEGEND, ''].join('\n'));
      return;
    }
    const combined = combinedTable(jobs);
    process.stdout.write(`\n${combined}`);
    const perJob = ['## Per job', '', ...tables];
    await fs.writeFile(path.join(RESULTS, 'all.md'), [header, '', combined, ...perJob].join('\n'));
  });

await program.parseAsync();
