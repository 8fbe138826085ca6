/**
 * The life of one command, the same for every command:
 * 1. commander parses the options (a refusal is exit 64, in cli.ts);
 * 2. `action`: the invocation opens (config and logger; a bad variable is exit 78);
 * 3. `withDatabase`, for commands that need one: open the database (unreachable 75, refused 78),
 *    check that the schema is current where the command needs it (behind: 78), resolve "now"
 *    once (`--now`, else the clock), run the command's body, close the database whatever happens;
 * 4. the body's exit code goes back to main; anything thrown is classified there once
 *    (errors.classify) into the exit code and one line on stderr.
 */
import type { Command } from 'commander';
import { assertSchemaCurrent, openDatabase, type Database } from './db.js';
import type { ExitCode } from './errors.js';
import { openInvocation, type Invocation, type Io } from './invocation.js';
import type { GlobalOptions } from './options.js';

/** The instant a command treats as now, resolved once per invocation. */
export interface CommandClock {
  now: Date;
  /** True when the operator gave `--now` (a run then keeps it in job_runs.details). */
  nowFixed: boolean;
}

/** What main hands to the action (io) and gets back from it (exit code, and the invocation to log a failure with). */
interface ActionSlot {
  io: Io;
  exitCode?: ExitCode;
  invocation?: Invocation;
}

// Commander calls actions with (options, command); this carries the invocation's io to them
// and their exit code back to main, without globals.
const slots = new WeakMap<Command, ActionSlot>();

const rootOf = (command: Command) => {
  let root = command;
  while (root.parent) root = root.parent;
  return root;
};

/** Binds one invocation's io to the program; main reads the exit code (and the invocation) from the slot afterwards. */
export function bindInvocation(program: Command, io: Io): Readonly<ActionSlot> {
  const slot: ActionSlot = { io };
  slots.set(program, slot);
  return slot;
}

export type Handler<O> = (invocation: Invocation, options: O & GlobalOptions, command: Command) => Promise<ExitCode>;

/** A command's action: opens the invocation (exit 78 on bad config), then runs the handler. */
export function action<O = Record<string, unknown>>(handler: Handler<O>) {
  return async (...args: unknown[]) => {
    const command = args[args.length - 1] as Command;
    const slot = slots.get(rootOf(command))!;
    slot.invocation = await openInvocation(slot.io);
    slot.exitCode = await handler(slot.invocation, command.optsWithGlobals<O & GlobalOptions>(), command);
  };
}

/** What a command needs of its database. */
export interface DatabaseNeeds {
  /** The name the connections carry (`application_name`, seen in pg_stat_activity). */
  command: string;
  /** False only for `migrate`, the command that brings the schema up to date. */
  schemaCurrent: boolean;
}

/**
 * Step 3 of the lifecycle: opens the database, checks the schema when `needs.schemaCurrent`,
 * resolves now (after the open, so a slow start of the embedded server does not age it), runs
 * `body` and closes the database whether it returned or threw. Throws what the open, the check
 * or the body throws (classified by main: 75, 78, 1).
 */
export async function withDatabase<T>(
  invocation: Invocation,
  options: GlobalOptions,
  needs: DatabaseNeeds,
  body: (db: Database, clock: CommandClock) => Promise<T>,
): Promise<T> {
  const db = await openDatabase(invocation.config, invocation.log, `planner-jobs:${needs.command}`);
  try {
    if (needs.schemaCurrent) await assertSchemaCurrent(db.knex);
    return await body(db, { now: options.now ?? new Date(), nowFixed: options.now !== undefined });
  } finally {
    invocation.stopProgress();
    await db.close();
  }
}

/** The action of a command that works on the database: `action` and `withDatabase` in one. */
export function databaseAction<O = Record<string, unknown>>(
  needs: DatabaseNeeds,
  handler: (
    invocation: Invocation,
    options: O & GlobalOptions,
    db: Database,
    clock: CommandClock,
    command: Command,
  ) => Promise<ExitCode>,
) {
  return action<O>((invocation, options, command) =>
    withDatabase(invocation, options, needs, (db, clock) => handler(invocation, options, db, clock, command)),
  );
}
