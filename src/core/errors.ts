/** Exit codes fixed by the contract; cron and Kubernetes read them. */
export const ExitCode = {
  ok: 0,
  failed: 1,
  usage: 64,
  unavailable: 75,
  config: 78,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

/** An error that ends the run with a specific exit code and a one-line message for the operator. */
export class ExitError extends Error {
  constructor(
    readonly exitCode: ExitCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'ExitError';
  }
}

export const usageError = (message: string) => new ExitError(ExitCode.usage, message);
export const configError = (message: string) => new ExitError(ExitCode.config, message);
export const unavailableError = (message: string, cause?: unknown) => new ExitError(ExitCode.unavailable, message, { cause });

// Node socket errors and PostgreSQL SQLSTATEs that mean "the server is not there right now".
const UNREACHABLE_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EPIPE',
  '57P01', // admin_shutdown
  '57P02', // crash_shutdown
  '57P03', // cannot_connect_now
  '53300', // too_many_connections
]);

/** True when the error says the database (or another service) cannot be reached, rather than that a query was wrong. */
export function isUnavailable(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string' && (UNREACHABLE_CODES.has(code) || code.startsWith('08'))) return true;
  if (err.name === 'KnexTimeoutError') return true;
  if (/Connection terminated|connection is closed|Client has encountered a connection error/i.test(err.message)) {
    return true;
  }
  if (err instanceof AggregateError) return err.errors.some(isUnavailable);
  return err.cause !== undefined && err.cause !== err && isUnavailable(err.cause);
}

/** Maps any error to the exit code and message an operator should see. */
export function classify(err: unknown): ExitError {
  if (err instanceof ExitError) return err;
  if (isUnavailable(err)) {
    return unavailableError(`cannot reach the database: ${describeError(err)}; try again later`, err);
  }
  return new ExitError(ExitCode.failed, describeError(err), { cause: err });
}

/** One line: the message, plus the SQLSTATE or errno when there is one. */
export function describeError(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const code = (err as { code?: unknown }).code;
  let message = err.message || err.name;
  if (err instanceof AggregateError && err.errors.length > 0) message = describeError(err.errors[0]);
  return typeof code === 'string' && !message.includes(code) ? `${message} (${code})` : message;
}
