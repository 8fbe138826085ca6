import { spawn } from 'node:child_process';
import { BIN } from '../bench/support.js';

/** How one child ended: its exit code, or 137 when we killed it (SIGKILL) or it ran past its timeout. */
export interface Exit {
  code: number;
  stdout: string;
  stderr: string;
  seconds: number;
  timedOut: boolean;
}

export interface Running {
  done: Promise<Exit>;
  kill(): void;
}

/** No child outlives its budget: it is SIGKILLed on the timeout, and every child is killed if the suite dies. */
const live = new Set<import('node:child_process').ChildProcess>();
process.once('exit', () => {
  for (const child of live) child.kill('SIGKILL');
});

/** Starts the real CLI (`bin/planner-jobs.js`) with only the environment given. */
export function startCli(args: string[], env: Record<string, string>, timeoutMs = 120_000): Running {
  const started = process.hrtime.bigint();
  const child = spawn(BIN, [...args, '--json'], {
    env: { PATH: process.env.PATH, HOME: process.env.HOME, LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  live.add(child);
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk) => (stdout += chunk));
  child.stderr.on('data', (chunk) => (stderr += chunk));
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    child.kill('SIGKILL');
  }, timeoutMs);
  const done = new Promise<Exit>((resolve) => {
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      live.delete(child);
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      resolve({ code: code ?? (signal === 'SIGKILL' ? 137 : 128), stdout, stderr, seconds, timedOut });
    });
  });
  return { done, kill: () => child.kill('SIGKILL') };
}

export const runCli = (args: string[], env: Record<string, string>, timeoutMs?: number) => startCli(args, env, timeoutMs).done;

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls `check` every 20 ms until it is true; false when `timeoutMs` passes first or `until` settles. */
export async function waitUntil(check: () => Promise<boolean>, timeoutMs: number, until?: Promise<unknown>): Promise<boolean> {
  let settled = false;
  void until?.then(() => (settled = true));
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline && !settled) {
    if (await check()) return true;
    await sleep(20);
  }
  return false;
}
