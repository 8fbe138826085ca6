import { readFileSync } from 'node:fs';
import { Command, CommanderError } from 'commander';
import { registerCrontab } from './commands/crontab.js';
import { registerDemo } from './commands/demo.js';
import { registerExport } from './commands/export.js';
import { registerJobCommands } from './commands/jobs.js';
import { registerMigrate } from './commands/migrate.js';
import { registerRetry } from './commands/retry.js';
import { registerStatus } from './commands/status.js';
import { registerVapidKeys } from './commands/vapid-keys.js';
import { ExitCode, classify } from './core/errors.js';
import type { Io } from './core/invocation.js';
import { bindInvocation } from './core/lifecycle.js';
import { globalOptions } from './core/options.js';
import { redactSecrets } from './core/redact.js';

/** Every command, in the order `--help` lists them: the jobs of the catalog, then the tools around them. */
const COMMANDS = [
  registerMigrate,
  registerJobCommands,
  registerExport,
  registerRetry,
  registerCrontab,
  registerStatus,
  registerDemo,
  registerVapidKeys,
];

/** One line, said once: control characters (a newline above all) inside a message are shown escaped (`\\n`). */
const oneLine = (text: string) => text.trimEnd().replace(/[\u0000-\u001f\u007f]/g, (c) => JSON.stringify(c).slice(1, -1));

const USAGE_HINT = '(run `planner-jobs --help` for usage)';

/** commander's usage error as one line: without its `error: ` prefix, its "Did you mean" hint joined on. */
const usageLine = (message: string) => oneLine(message.replace(/\n(?=\(Did you mean)/, ' ')).replace(/^error: /, '');

/** This package's version, from the package.json above this file (src/ under tsx, dist/src/ when built). */
function packageVersion(): string {
  for (const up of ['../package.json', '../../package.json']) {
    try {
      const manifest = JSON.parse(readFileSync(new URL(up, import.meta.url), 'utf8')) as { name?: string; version?: string };
      if (manifest.name === 'planner-jobs' && manifest.version) return manifest.version;
    } catch {
      // not at this level
    }
  }
  return 'unknown';
}

/** The whole command line (commands, options, parsers), writing its help and usage errors to `io`. */
export function buildProgram(io: Pick<Io, 'stdout' | 'stderr'>): Command {
  const program = new Command('planner-jobs')
    .description('Background jobs of the planner: run one per invocation, from cron, Kubernetes or by hand.')
    .version(packageVersion(), '-V, --version', 'print the version')
    .exitOverride()
    // Each command's --help lists the global options (--dry-run, --now, ...) too.
    .configureHelp({ showGlobalOptions: true })
    .configureOutput({
      writeOut: (s) => io.stdout.write(s),
      writeErr: (s) => io.stderr.write(s),
      // One line, as every other error: commander's message under our prefix, the pointer to --help
      // on the same line; commander quotes the refused value back, so a newline in it is escaped.
      // commander's "Did you mean" hint comes on a line of its own: it joins the line.
      outputError: (s, write) => write(`planner-jobs: ${usageLine(s)} ${USAGE_HINT}\n`),
    })
    .allowExcessArguments(false);
  for (const option of globalOptions()) program.addOption(option);
  for (const register of COMMANDS) register(program);
  return program;
}

/** Runs one invocation and returns its exit code; never calls process.exit, so tests can call it. */
export async function main(argv: string[], io: Io): Promise<number> {
  const program = buildProgram(io);
  const slot = bindInvocation(program, io);
  try {
    await program.parseAsync(argv, { from: 'user' });
    return slot.exitCode ?? ExitCode.ok;
  } catch (err) {
    // The --json summary of a run that never started: the same message and exit code as stderr's line.
    const printJsonFailure = (message: string, exitCode: ExitCode) => {
      if (argv.includes('--json'))
        io.stdout.write(`${JSON.stringify({ status: 'failed', error: message, exit_code: exitCode })}\n`);
    };
    if (err instanceof CommanderError) {
      // `--help`, `help [command]` and `--version` print what was asked for: not an error (no command
      // at all prints the help as an error: commander's exit code 1 there, 64 here).
      if (['commander.helpDisplayed', 'commander.version'].includes(err.code)) return ExitCode.ok;
      if (err.code === 'commander.help' && err.exitCode === 0) return ExitCode.ok;
      // commander has printed its line (outputError, above); the summary repeats its message.
      printJsonFailure(usageLine(redactSecrets(err.message)), ExitCode.usage);
      return ExitCode.usage;
    }
    const failure = classify(err);
    const message = oneLine(redactSecrets(failure.message));
    const log = slot.invocation?.log;
    // A bug (exit 1) also gets a log record with its stack; an expected fault (64, 75, 78) is only the
    // line below, and its stack a debug record (LOG_LEVEL=debug).
    if (failure.exitCode === ExitCode.failed) log?.error({ err: failure.cause ?? failure }, message);
    else log?.debug({ err: failure.cause ?? failure }, message);
    io.stderr.write(`planner-jobs: ${message}\n`);
    printJsonFailure(message, failure.exitCode);
    return failure.exitCode;
  }
}

/** The `planner-jobs` binary: real process, real signals. */
export async function runCli(): Promise<void> {
  const controller = new AbortController();
  const onSignal = (signal: NodeJS.Signals) => {
    if (controller.signal.aborted) {
      process.stderr.write(`planner-jobs: ${signal} again; exiting now\n`);
      process.exit(ExitCode.failed);
    }
    process.stderr.write(
      `planner-jobs: ${signal} received; stopping once the batch under way (if any) is finished (send again to exit at once)\n`,
    );
    controller.abort(signal);
  };
  // SIGHUP: the operator's terminal closed under a hand-started run; stop as cleanly as on SIGTERM.
  for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) process.on(signal, onSignal);
  // Node prints a library's warning (pg's note on sslmode) over a dozen lines; one line is enough,
  // the whole text only at LOG_LEVEL=debug.
  process.removeAllListeners('warning');
  // The AWS SDK warns on every run under Node 20 that its releases from 2027 will need Node 22: a
  // note for whoever upgrades the dependencies, not for the operator of a run. Its own switch; an
  // operator who sets it to false sees the warning again.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  process.on('warning', (warning) => {
    const text = ['debug', 'trace'].includes(process.env.LOG_LEVEL?.trim().toLowerCase() ?? '')
      ? warning.stack
      : warning.message.split('\n')[0];
    process.stderr.write(`planner-jobs: ${warning.name}: ${text}\n`);
  });
  // A reader that went away (`planner-jobs status | head`) is no reason to crash the run: the
  // run's record in job_runs and its exit code still tell what happened.
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code !== 'EPIPE') throw err;
    });
  }
  const code = await main(process.argv.slice(2), {
    env: process.env,
    cwd: process.cwd(),
    stdout: process.stdout,
    stderr: process.stderr,
    interactive: process.stderr.isTTY === true,
    signal: controller.signal,
  });
  process.exit(code);
}
