import { Argument, type Command } from 'commander';
import { ExitCode, usageError } from '../core/errors.js';
import { action, withDatabase } from '../core/lifecycle.js';
import { uuid } from '../core/options.js';
import { RETRY_QUEUES, redriveFailed, type RetryQueue } from '../jobs/retry/index.js';

const id = uuid((value) => `--id takes a uuid (got "${value}").`);
const collectId = (value: string, previous: string[] = []) => [...previous, id(value)];

export const registerRetry = (program: Command) =>
  program
    .command('retry')
    .description("operators' redrive: put failed notifications or exports back to pending")
    .addArgument(new Argument('<queue>', 'which queue').choices(RETRY_QUEUES))
    .option('--failed', 'move the failed rows back to pending (required: says which rows)')
    .option('--id <uuid>', 'only this row (repeatable)', collectId)
    .action(
      action<{ failed?: boolean; id?: string[] }>(async (invocation, options, command) => {
        const queue = command.processedArgs[0] as RetryQueue;
        if (!options.failed) throw usageError(`retry ${queue}: say which rows to move back to pending: --failed`);
        const dryRun = options.dryRun === true;
        return withDatabase(invocation, options, { command: 'retry', schemaCurrent: true }, async (db, { now }) => {
          const moved = await redriveFailed(db.knex, queue, {
            now,
            ids: options.id,
            batchSize: options.batchSize ?? 1000,
            dryRun,
          });
          const verb = dryRun ? 'would move' : 'moved';
          invocation.log.info(
            { queue, dryRun, ids: moved.map((row) => row.id) },
            `retry ${queue}: ${verb} ${moved.length} failed row(s) back to pending`,
          );
          if (options.json) {
            invocation.print(JSON.stringify({ queue, dry_run: dryRun, moved: moved.length, rows: moved }));
            return ExitCode.ok;
          }
          invocation.print(
            `${queue}${dryRun ? ' dry run (nothing written)' : ''}: ${verb} ${moved.length} failed row(s) back to pending`,
          );
          for (const row of moved) invocation.print(`  ${row.id}${row.error ? `  (failed with: ${row.error})` : ''}`);
          return ExitCode.ok;
        });
      }),
    );
