import { spawn } from 'node:child_process';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { main } from '../../src/cli.js';

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
  /** stdout parsed as the one JSON object `--json` prints. */
  json<T = Record<string, unknown>>(): T;
  /** stderr's JSON log lines. */
  logs(): Record<string, unknown>[];
}

type Env = Record<string, string | undefined>;

const BIN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../bin/planner-jobs.js');

// Only what a run needs: the developer's own VAPID_* or S3_* must not leak into tests.
const baseEnv = (env: Env): NodeJS.ProcessEnv => ({ PATH: process.env.PATH, HOME: process.env.HOME, LOG_LEVEL: 'info', ...env });

function result(code: number, stdout: string, stderr: string): CliResult {
  return {
    code,
    stdout,
    stderr,
    json: () => JSON.parse(stdout.trim().split('\n').at(-1)!),
    logs: () =>
      stderr
        .split('\n')
        .filter((line) => line.startsWith('{'))
        .map((line) => JSON.parse(line)),
  };
}

const collect = (stream: PassThrough) => {
  let text = '';
  stream.on('data', (chunk) => (text += chunk));
  return () => text;
};

/** Runs the CLI in this process (fast); `env` is the whole environment it sees. */
export async function cli(
  args: string[],
  env: Env,
  options: { signal?: AbortSignal; interactive?: boolean } = {},
): Promise<CliResult> {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  const out = collect(stdout);
  const err = collect(stderr);
  const code = await main(args, {
    env: baseEnv(env),
    cwd: process.cwd(),
    stdout,
    stderr,
    interactive: options.interactive ?? false,
    signal: options.signal,
  });
  return result(code, out(), err());
}

/**
 * Runs the real binary in a child process, for signals, exit codes and the embedded default;
 * `bin` another copy of it, `uid`/`gid` another user to run it as (the test must be root).
 */
export function spawnCli(args: string[], env: Env, options: { cwd?: string; bin?: string; uid?: number; gid?: number } = {}) {
  const child = spawn(options.bin ?? BIN, args, {
    env: baseEnv(env),
    cwd: options.cwd,
    uid: options.uid,
    gid: options.gid,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk) => (stdout += chunk));
  child.stderr.on('data', (chunk) => (stderr += chunk));
  const done = new Promise<CliResult>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code, signal) => resolve(result(code ?? (signal ? 128 : -1), stdout, stderr)));
  });
  /** Resolves once stderr contains `text` (a log line we wait for before signalling). */
  const waitFor = (text: string, timeoutMs = 20_000) =>
    new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out waiting for "${text}" in:\n${stderr}`)), timeoutMs);
      const check = () => {
        if (stderr.includes(text)) {
          clearTimeout(timer);
          child.stderr.off('data', check);
          resolve();
        }
      };
      child.stderr.on('data', check);
      check();
    });
  return { child, done, waitFor };
}
