// Secrets must never reach a log line or job_runs.details.

const URL_CREDENTIALS = /\b([a-z][a-z0-9+.-]*:\/\/[^:/?#@\s]*):[^@/\s]*@/gi;
const KEYWORD_SECRETS =
  /\b(password|passwd|pwd|secret|token|api[_-]?key|private[_-]?key)(\s*[=:]\s*)("[^"]*"|'[^']*'|[^\s,;&]+)/gi;

/** Masks passwords in connection strings and `password=...`-style pairs inside free text. */
export function redactSecrets(text: string): string {
  return text.replace(URL_CREDENTIALS, '$1:***@').replace(KEYWORD_SECRETS, '$1$2***');
}

/** pino `redact` paths: object keys whose values are secrets wherever they appear in a log record. */
export const REDACTED_KEYS = [
  'password',
  'token',
  'secret',
  'authorization',
  'privateKey',
  'private_key',
  'auth',
  'p256dh',
  'password_reset_token',
  'databaseUrl',
  'connectionString',
];
export const REDACT_PATHS = REDACTED_KEYS.flatMap((key) => [key, `*.${key}`, `*.*.${key}`]);
