import { Writable } from 'node:stream';
import { pino, stdSerializers, type Logger } from 'pino';
import type prettyFactory from 'pino-pretty';
import { isRunFault } from './errors.js';
import { REDACT_PATHS, redactSecrets } from './redact.js';

export type { Logger };

export interface LoggerOptions {
  level: string;
  /** Where log lines go: stderr, always (stdout is for the summary). */
  stream: NodeJS.WritableStream;
  /**
   * Readable lines for a person at a terminal (pass `pino-pretty`, loaded only then); JSON lines
   * otherwise.
   */
  pretty: typeof prettyFactory | false;
  /** Called around every line on a terminal, so a spinner can step aside. */
  around?: (write: () => void) => void;
}

type SerializedError = ReturnType<typeof stdSerializers.err>;

const DEBUG_LEVELS = ['debug', 'trace'];

/** Drops the stacks of an error, its causes and its aggregated errors: a stack helps a developer, not an operator. */
function withoutStacks(serialized: SerializedError): SerializedError {
  const {
    stack: _stack,
    cause,
    aggregateErrors,
    ...rest
  } = serialized as SerializedError & {
    cause?: SerializedError;
    aggregateErrors?: SerializedError[];
  };
  const stripped: Record<string, unknown> = rest;
  if (cause && typeof cause === 'object') stripped.cause = withoutStacks(cause);
  if (aggregateErrors) stripped.aggregateErrors = aggregateErrors.map(withoutStacks);
  return stripped as SerializedError;
}

/**
 * The `err` serializer: secrets masked; no stack for an expected error (usage, configuration,
 * availability: exit 64, 78, 75) unless the level is debug or trace, so such a fault is one plain
 * record; a bug (exit 1) keeps its stack.
 */
const errorSerializer = (level: string) => (err: Error) => {
  const serialized = stdSerializers.err(err);
  serialized.message = redactSecrets(serialized.message ?? '');
  if (serialized.stack) serialized.stack = redactSecrets(serialized.stack);
  return isRunFault(err) && !DEBUG_LEVELS.includes(level) ? withoutStacks(serialized) : serialized;
};

export function createLogger(options: LoggerOptions): Logger {
  const write = (chunk: string | Uint8Array) => {
    const emit = () => options.stream.write(chunk);
    if (options.around) options.around(emit);
    else emit();
  };
  const sink = new Writable({
    write(chunk, _encoding, done) {
      write(chunk);
      done();
    },
  });
  const destination = options.pretty
    ? options.pretty({ destination: sink, sync: true, colorize: true, translateTime: 'HH:MM:ss', ignore: 'pid,hostname' })
    : sink;
  return pino(
    {
      level: options.level,
      base: undefined,
      redact: { paths: REDACT_PATHS, censor: '***' },
      serializers: { err: errorSerializer(options.level), error: errorSerializer(options.level) },
      hooks: {
        logMethod(args, method) {
          method.apply(
            this,
            args.map((arg) => (typeof arg === 'string' ? redactSecrets(arg) : arg)) as Parameters<typeof method>,
          );
        },
      },
    },
    destination,
  );
}

/**
 * A warning about a service outside the run (a heartbeat, the Pushgateway, a metrics file) that
 * the run survives: the message names the cause in one line; the error itself, with its stack,
 * only at LOG_LEVEL=debug.
 */
export function warnOutsideFault(log: Logger, err: unknown, fields: Record<string, unknown>, message: string): void {
  log.warn(log.isLevelEnabled('debug') ? { ...fields, err } : fields, message);
}
