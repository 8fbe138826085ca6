// Secrets must never reach a log line or job_runs.details.

// `scheme://user:password@`: the password runs to the LAST `@` before the path, as the WHATWG URL
// parser (and so pg-connection-string) reads it, so an unencoded `@` in it leaks no part of it.
const URL_CREDENTIALS = /\b([a-z][a-z0-9+.-]*:\/\/[^:/?#@\s]*):[^/?#\s]*@/gi;
const KEYWORD_SECRETS =
  /\b(password|passwd|pwd|secret|token|api[_-]?key|private[_-]?key)(\s*[=:]\s*)("[^"]*"|'[^']*'|[^\s,;&]+)/gi;

// Values the configuration knows to be secret (DATABASE_URL's password, VAPID_PRIVATE_KEY): masked
// wherever they appear, also where no pattern would spot them (a driver's error echoing a host).
const knownSecrets = new Set<string>();
// Shorter values would mask ordinary words.
const MIN_KNOWN_SECRET_LENGTH = 4;

/** Remembers a secret value of this process's configuration, so redactSecrets masks it everywhere. */
export function rememberSecret(value: string | undefined): void {
  if (value && value.length >= MIN_KNOWN_SECRET_LENGTH) knownSecrets.add(value);
}

/** Masks passwords in connection strings, `password=...`-style pairs and remembered secrets inside free text. */
export function redactSecrets(text: string): string {
  let masked = text.replace(URL_CREDENTIALS, '$1:***@').replace(KEYWORD_SECRETS, '$1$2***');
  for (const secret of knownSecrets) masked = masked.replaceAll(secret, '***');
  return masked;
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
