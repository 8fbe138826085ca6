import { Writable } from 'node:stream';
import { pino, stdSerializers, type Logger } from 'pino';
import type prettyFactory from 'pino-pretty';
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

const redactedError = (err: Error) => {
  const serialized = stdSerializers.err(err);
  serialized.message = redactSecrets(serialized.message ?? '');
  if (serialized.stack) serialized.stack = redactSecrets(serialized.stack);
  return serialized;
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
      serializers: { err: redactedError, error: redactedError },
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
