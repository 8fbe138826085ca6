import type { Command } from 'commander';
import type { ExitCode } from './errors.js';
import { openSession, type Io, type Session } from './io.js';
import { runJobCommand, type GlobalOptions } from './jobCommand.js';
import type { Job } from './runner.js';

interface Invocation {
  io: Io;
  exitCode?: ExitCode;
  session?: Session;
}

// Commander calls actions with (options, command); this carries the invocation's io to them
// and their exit code back to main, without globals.
const invocations = new WeakMap<Command, Invocation>();

const rootOf = (command: Command) => {
  let root = command;
  while (root.parent) root = root.parent;
  return root;
};

export function bindInvocation(program: Command, io: Io): Invocation {
  const invocation: Invocation = { io };
  invocations.set(program, invocation);
  return invocation;
}

type Handler<O> = (session: Session, options: O & GlobalOptions, command: Command) => Promise<ExitCode>;

/** Wraps a command's handler: config and logger first (exit 78 on bad config), then the handler. */
export function action<O = Record<string, unknown>>(handler: Handler<O>) {
  return async (...args: unknown[]) => {
    const command = args[args.length - 1] as Command;
    const invocation = invocations.get(rootOf(command))!;
    invocation.session = await openSession(invocation.io);
    invocation.exitCode = await handler(invocation.session, command.optsWithGlobals<O & GlobalOptions>(), command);
  };
}

/**
 * The action of a job command: build the job from the command's options, run it, return its exit
 * code. `makeJob` may import the job lazily, so a run loads only its own job's dependencies.
 */
export const jobAction = <O = Record<string, unknown>>(makeJob: (options: O & GlobalOptions) => Job | Promise<Job>) =>
  action<O>(async (session, options) => runJobCommand(session, await makeJob(options), options));
