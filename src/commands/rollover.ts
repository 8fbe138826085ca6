import { InvalidArgumentError, type Command } from 'commander';
import { jobAction } from '../core/commandKit.js';
import { canonicalZone } from '../core/timezones.js';

// Any spelling or link of an IANA zone (`america/new_york`, `US/Eastern`) names its canonical
// zone, so the run selects every user whose stored name resolves to it.
const zone = (value: string) => {
  const canonical = canonicalZone(value);
  if (canonical === undefined) throw new InvalidArgumentError(`--tz takes an IANA time zone like America/New_York (got "${value}").`);
  return canonical;
};

export const registerRollover = (program: Command) =>
  program
    .command('rollover')
    .description('close the local day for users whose midnight has passed: score, streak, routine reset')
    .option('--tz <zone>', 'only users of this IANA time zone, any spelling or link of it (one CronJob per zone)', zone)
    .action(
      jobAction<{ tz?: string }>(async (options) =>
        (await import('../jobs/rollover/index.js')).rolloverJob({ zone: options.tz }),
      ),
    );
