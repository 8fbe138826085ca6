import { InvalidArgumentError, Option } from 'commander';
import { parseNow } from './clock.js';
import { ExitError } from './errors.js';

/** An option parser for a whole number from 1 to `max`; anything else is bad usage (exit 64). */
export const positiveInt = (name: string, max: number) => (value: string) => {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n < 1 || n > max) throw new InvalidArgumentError(`${name} takes a whole number from 1 to ${max}.`);
  return n;
};

// C0 controls and DEL: a newline would end a line of the file the value is written into.
const CONTROL_CHARACTER = /[\u0000-\u001f\u007f]/;

/**
 * An option parser for a value written into a line another program reads (a crontab line,
 * crontab(5)): any control character, a newline above all, is bad usage (exit 64).
 */
export const lineSafe = (name: string) => (value: string) => {
  if (CONTROL_CHARACTER.test(value))
    throw new InvalidArgumentError(`${name} must not contain a newline or other control character.`);
  return value;
};

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** An option parser for a uuid (returned in lower case); `refusal` says what the option wanted. */
export const uuid = (refusal: (value: string) => string) => (value: string) => {
  if (!UUID.test(value)) throw new InvalidArgumentError(refusal(value));
  return value.toLowerCase();
};

const instant = (value: string) => {
  try {
    return parseNow(value);
  } catch (err) {
    throw new InvalidArgumentError(err instanceof ExitError ? err.message : String(err));
  }
};

/** The options every job command accepts (the contract's global options), as commander parses them. */
export interface GlobalOptions {
  dryRun?: boolean;
  now?: Date;
  batchSize?: number;
  maxRuntime?: number;
  json?: boolean;
}

/** The contract's global options, accepted before or after the command's name. */
export const globalOptions = () => [
  new Option('--dry-run', 'do everything but commit and send: report what would change'),
  new Option('--now <iso8601>', 'the instant the run treats as now (default: the clock)').argParser(instant),
  new Option('--batch-size <n>', 'rows claimed per transaction').argParser(positiveInt('--batch-size', 100_000)),
  new Option('--max-runtime <seconds>', "the run's time budget; no new work is claimed after it").argParser(
    positiveInt('--max-runtime', 86_400),
  ),
  new Option('--json', "print the run's summary as one JSON object on stdout"),
];
