/** Exit codes fixed by the contract; cron and Kubernetes read them (sysexits(3): EX_USAGE 64, EX_TEMPFAIL 75, EX_CONFIG 78). */
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
export const configError = (message: string, cause?: unknown) => new ExitError(ExitCode.config, message, { cause });
export const unavailableError = (message: string, cause?: unknown) => new ExitError(ExitCode.unavailable, message, { cause });

// Node socket errors that mean "the server is not there right now".
const UNREACHABLE_ERRNOS = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EPIPE',
]);
// TLS verification failures (OpenSSL's codes as Node reports them): the server answers, but not with a
// certificate this configuration (sslmode, sslrootcert) accepts.
const TLS_REFUSALS = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_HAS_EXPIRED',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);
// The pg driver's answer when sslmode asks for TLS and the server replies 'N' to SSLRequest. It carries no
// code, so this one is recognised by its text (pg/lib/connection.js).
const SSL_UNSUPPORTED = 'The server does not support SSL connections';

/** A cause the run (not an item) is responsible for: its exit code and how to say it. */
type Cause = { exitCode: ExitCode; explain: (detail: string) => string };

const unreachable: Cause = { exitCode: ExitCode.unavailable, explain: (d) => `cannot reach the database: ${d}; try again later` };
const unanswered: Cause = {
  exitCode: ExitCode.unavailable,
  explain: () => "cannot reach the database: no answer from DATABASE_URL's server within the connection timeout; try again later",
};
const refusedCredentials: Cause = {
  exitCode: ExitCode.config,
  explain: (d) => `the database refused DATABASE_URL's credentials: ${d}`,
};
const unknownDatabase: Cause = {
  exitCode: ExitCode.config,
  explain: (d) => `DATABASE_URL names a database the server does not have: ${d}`,
};
const missingPrivilege: Cause = {
  exitCode: ExitCode.config,
  explain: (d) => `DATABASE_URL's role lacks a privilege the jobs need: ${d}; grant it, or use the role that owns the schema`,
};
const refusedTls: Cause = {
  exitCode: ExitCode.config,
  explain: (d) => `DATABASE_URL's TLS settings (sslmode, sslrootcert) do not fit the server: ${d}`,
};

/**
 * The cause of one error, from codes rather than text: PostgreSQL SQLSTATEs by class (PostgreSQL
 * manual, Appendix A: 08 connection exception, 28 invalid authorization, 3D invalid catalog name,
 * 3F invalid schema name, 42501 insufficient privilege, 53300 too many connections, 57P operator
 * intervention), Node's errno and TLS codes, and the driver's SSL refusal (which has no code).
 */
function causeOf(err: Error): Cause | undefined {
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string') {
    if (UNREACHABLE_ERRNOS.has(code) || code.startsWith('08') || code.startsWith('57P') || code === '53300') return unreachable;
    if (code.startsWith('28')) return refusedCredentials;
    if (code === '3D000') return unknownDatabase;
    if (code === '42501' || code === '3F000') return missingPrivilege;
    if (TLS_REFUSALS.has(code)) return refusedTls;
  }
  if (err.message === SSL_UNSUPPORTED) return refusedTls;
  // Without a code: knex's pool timed out, or pg lost its connection mid-query.
  if (err.name === 'KnexTimeoutError') return unreachable;
  if (/Connection terminated|connection is closed|Client has encountered a connection error/i.test(err.message))
    return unreachable;
  // pg's connect timeout (connectionTimeoutMillis): a server that accepted the connection, or a
  // network that dropped it, and no answer in time (pg/lib/client.js).
  if (err.message === 'timeout expired') return unanswered;
  if (err instanceof AggregateError) {
    for (const inner of err.errors) {
      const cause = inner instanceof Error ? causeOf(inner) : undefined;
      if (cause) return cause;
    }
  }
  return err.cause instanceof Error && err.cause !== err ? causeOf(err.cause) : undefined;
}

/** True when the error says the database (or another service) cannot be reached, rather than that a query was wrong. */
export function isUnavailable(err: unknown): boolean {
  return err instanceof Error && causeOf(err)?.exitCode === ExitCode.unavailable;
}

/**
 * True when the error is the run's, not an item's: bad usage, configuration or availability
 * (exit 64, 78, 75). Such an error ends the run and is never charged to an item's attempts.
 */
export function isRunFault(err: unknown): boolean {
  return classify(err).exitCode !== ExitCode.failed;
}

/**
 * Maps any error to the exit code and the one-line message an operator should see (the contract's
 * exit codes; see causeOf for the codes read). An ExitError is returned as it is, so a message is
 * never wrapped twice; anything unrecognised is exit 1 with the error's own message.
 */
export function classify(err: unknown): ExitError {
  if (err instanceof ExitError) return err;
  const cause = err instanceof Error ? causeOf(err) : undefined;
  if (cause) return new ExitError(cause.exitCode, cause.explain(describeError(err)), { cause: err });
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
