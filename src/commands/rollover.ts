import { InvalidArgumentError, type Command } from 'commander';
import { jobAction } from '../core/commandKit.js';
import { isValidZone } from '../core/timezones.js';

const zone = (value: string) => {
  if (!isValidZone(value)) throw new InvalidArgumentError(`--tz takes an IANA time zone like America/New_York (got "${value}").`);
  return value;
};

export const registerRollover = (program: Command) =>
  program
    .command('rollover')
    .description('close the local day for users whose midnight has passed: score, streak, routine reset')
    .option('--tz <zone>', 'only users of this IANA time zone (one CronJob per zone)', zone)
    .action(
      jobAction<{ tz?: string }>(async (options) =>
        (await import('../jobs/rollover/index.js')).rolloverJob({ zone: options.tz }),
      ),
    );
