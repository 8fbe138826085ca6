/**
 * Timing of a variant: wall time, CPU time (this process's, or its children's), the database
 * server's CPU time and the benchmark databases' peak connections over the same span, and for
 * child processes their peak memory.
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Measurement } from './benchmark.js';
import { ownCpuSeconds, peakRssKb, reapedChildrenCpuSeconds } from './cpu.js';
import { BenchServer } from './server.js';

export const BIN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../bin/planner-jobs.js');

export type Resources = Pick<Measurement, 'cpuSeconds' | 'serverCpuSeconds' | 'dbConnections'>;

/** Connections are sampled this often: a short CLI run holds its connection for a few hundred milliseconds. */
const SAMPLE_EVERY_MS = 50;

/**
 * Runs `section`, sampling every 50 ms the connections to the benchmark's databases; CPU time is
 * `cpuSeconds()` read before and after, and the database server's over the same span.
 */
async function measured<T>(
  section: () => Promise<T>,
  cpuSeconds: () => Promise<number>,
): Promise<{ seconds: number; value: T } & Resources> {
  const server = BenchServer.current;
  let dbConnections = 0;
  const sample = () =>
    server
      ?.connections()
      .then((count) => (dbConnections = Math.max(dbConnections, count)))
      .catch(() => undefined);
  const [cpuBefore, serverCpuBefore] = await Promise.all([cpuSeconds(), server?.serverCpuSeconds()]);
  const timer = setInterval(() => void sample(), SAMPLE_EVERY_MS);
  const started = process.hrtime.bigint();
  let value: T;
  try {
    value = await section();
  } finally {
    clearInterval(timer);
  }
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const [cpuAfter, serverCpuAfter] = await Promise.all([cpuSeconds(), server?.serverCpuSeconds(), sample()]);
  const resources: Resources = {
    cpuSeconds: cpuAfter - cpuBefore,
    serverCpuSeconds:
      serverCpuBefore === undefined || serverCpuAfter === undefined ? undefined : serverCpuAfter - serverCpuBefore,
    dbConnections: server ? dbConnections : undefined,
  };
  return { seconds, value, ...resources };
}

/** Wall time of an async function run in this process, with this process's CPU time (every thread) and the databases' connections. */
export function time<T>(fn: () => Promise<T>): Promise<{ seconds: number; value: T } & Resources> {
  return measured(fn, ownCpuSeconds);
}

export interface ProcessRun extends Resources {
  seconds: number;
  /** The sum of each process's peak resident memory. */
  peakRssMb: number;
  stdout: string;
  stderr: string;
}

export interface Command {
  command: string;
  args: string[];
  env: Record<string, string>;
}

/**
 * Runs commands side by side, each in a child process, until all have exited: wall time, the sum
 * of their peak RSS (VmHWM, sampled until exit), their CPU time (counted when reaped), the benchmark
 * databases' peak connections. When `stop` settles, the ones still running get SIGTERM. Each must
 * exit 0; the result has one run per command.
 */
export async function timeProcesses(commands: Command[], stop?: Promise<unknown>): Promise<ProcessRun[]> {
  const outputs = commands.map(() => ({ stdout: '', stderr: '', peakKb: 0, code: -1 }));
  const run = await measured(
    () =>
      Promise.all(
        commands.map(async ({ command, args, env }, i) => {
          const output = outputs[i];
          const child = spawn(command, args, {
            env: { PATH: process.env.PATH, HOME: process.env.HOME, LOG_LEVEL: 'warn', ...env },
            stdio: ['ignore', 'pipe', 'pipe'],
          });
          child.stdout.on('data', (chunk) => (output.stdout += chunk));
          child.stderr.on('data', (chunk) => (output.stderr += chunk));
          const timer = setInterval(() => {
            void peakRssKb(child.pid!).then((kb) => (output.peakKb = Math.max(output.peakKb, kb)));
          }, 20);
          void stop?.finally(() => child.exitCode === null && child.kill('SIGTERM'));
          output.code = await new Promise<number>((resolve) => child.once('close', (c) => resolve(c ?? -1)));
          clearInterval(timer);
        }),
      ),
    reapedChildrenCpuSeconds,
  );
  const failed = commands.findIndex((_, i) => outputs[i].code !== 0);
  if (failed !== -1) {
    const { command, args } = commands[failed];
    throw new Error(`${path.basename(command)} ${args.join(' ')} exited ${outputs[failed].code}:\n${outputs[failed].stderr}`);
  }
  const { seconds, cpuSeconds, serverCpuSeconds, dbConnections } = run;
  const peakRssMb = outputs.reduce((sum, output) => sum + output.peakKb, 0) / 1024;
  return outputs.map(({ stdout, stderr }) => ({
    seconds,
    cpuSeconds,
    serverCpuSeconds,
    dbConnections,
    peakRssMb,
    stdout,
    stderr,
  }));
}

/** Runs the real CLI in a child process (see `timeProcesses`). */
export async function timeCli(args: string[], env: Record<string, string>): Promise<ProcessRun> {
  const [run] = await timeProcesses([{ command: BIN, args, env }]);
  return run;
}

/** A row's timing figures from a `time` or `timeProcesses` result. */
export const timing = ({ seconds, cpuSeconds, serverCpuSeconds, dbConnections }: { seconds: number } & Resources) => ({
  seconds,
  cpuSeconds,
  serverCpuSeconds,
  dbConnections,
});
