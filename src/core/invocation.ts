import { loadConfig, type Config } from './config.js';
import { createLogger, type Logger } from './logger.js';

/** The outside world of one CLI invocation; tests pass their own. */
export interface Io {
  env: NodeJS.ProcessEnv;
  cwd: string;
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  /** A person is watching stderr: readable logs and a spinner. */
  interactive: boolean;
  /** Aborted on SIGTERM / SIGINT. */
  signal?: AbortSignal;
}

/**
 * One CLI invocation once its options are parsed and its environment read: the io, the validated
 * config, the logger, the summary printer and the spinner. Every command gets one (it holds no
 * database: commands that need one open it through the lifecycle, src/core/lifecycle.ts).
 */
export interface Invocation {
  io: Io;
  config: Config;
  log: Logger;
  /** A spinner line on a terminal; nothing otherwise. */
  progress(text: string): void;
  stopProgress(): void;
  print(line: string): void;
}

/** Reads the config (throws ExitError 78 naming each bad variable) and sets up logging and the spinner. */
export async function openInvocation(io: Io): Promise<Invocation> {
  const config = loadConfig(io.env, io.cwd);
  // The spinner and readable logs are for a person at a terminal; cron and Kubernetes runs never load them.
  const [ora, pretty] = io.interactive
    ? await Promise.all([import('ora').then((m) => m.default), import('pino-pretty').then((m) => m.default)])
    : [undefined, false as const];
  const spinner = ora?.({ stream: io.stderr as NodeJS.WriteStream, discardStdin: false, isEnabled: true });
  const log = createLogger({
    level: config.logLevel,
    stream: io.stderr,
    pretty,
    around: spinner
      ? (write) => {
          spinner.clear();
          write();
          if (spinner.isSpinning) spinner.render();
        }
      : undefined,
  });
  return {
    io,
    config,
    log,
    progress: (text) => {
      if (!spinner) return;
      spinner.text = text;
      if (!spinner.isSpinning) spinner.start();
    },
    stopProgress: () => spinner?.stop(),
    print: (line) => io.stdout.write(`${line}\n`),
  };
}
