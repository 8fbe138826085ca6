import { Option, type Command } from 'commander';
import { runJobCommand } from '../core/jobCommand.js';
import { action } from '../core/lifecycle.js';
import { uuid } from '../core/options.js';
import { FORMAT_NAMES, type FormatName } from '../jobs/exports/formats/index.js';
import type { DownloadLink } from '../jobs/exports/storage/index.js';

const userId = uuid(() => '--user takes a user id (a UUID).');

export const registerExport = (program: Command) =>
  program
    .command('export')
    .description('export one user’s data now (operators); prints the download link or path')
    .requiredOption('--user <id>', 'the user to export', userId)
    .addOption(
      new Option('--format <format>', 'json, csv (a zip of CSV files) or markdown').choices(FORMAT_NAMES).default('json'),
    )
    .action(
      action<{ user: string; format: FormatName }>(async (invocation, options) => {
        let link: DownloadLink | undefined;
        const { exportNowJob } = await import('../jobs/exports/index.js');
        const code = await runJobCommand(
          invocation,
          exportNowJob(options.user, options.format, (l) => (link = l)),
          options,
        );
        // With --json the summary stays the last line; the link is in export_jobs and the log.
        if (link && !options.json) {
          invocation.print(link.expiresAt ? `${link.url}\n(valid until ${link.expiresAt.toISOString()})` : link.url);
        }
        return code;
      }),
    );
