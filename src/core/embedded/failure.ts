import { ExitCode, ExitError } from '../errors.js';

// Faults that stay until someone changes a path, a permission or a file: configuration (78), not "try again".
const LASTING_ERRNOS = new Set(['EACCES', 'EPERM', 'EROFS', 'ENOTDIR', 'EISDIR', 'EEXIST', 'ELOOP', 'ENAMETOOLONG', 'ENOENT']);
const LASTING_TEXT = /Permission denied|Operation not permitted|Read-only file system|Not a directory/i;
/** The server's own words for a cluster it will never start as it is: damaged, or made by another major version. */
export const UNUSABLE_CLUSTER = /is not a valid data directory|database files are incompatible with server/i;

/** The one line a failed step of the embedded server contributes: the OS error, or the tool's last error line. */
export function reasonOf(err: unknown): string {
  const { stderr, code, message } = (err ?? {}) as { stderr?: unknown; code?: unknown; message?: unknown };
  const lines =
    typeof stderr === 'string'
      ? stderr
          .split('\n')
          .map((l) => l.trim())
          .filter(Boolean)
      : [];
  const toolLine = lines.filter((l) => /error|fatal|denied|cannot|could not/i.test(l)).at(-1) ?? lines.at(-1);
  let reason = toolLine ?? (typeof message === 'string' && message.trim() ? message.trim() : String(err ?? '').trim());
  if (typeof code === 'string' && !reason.includes(code)) reason = `${reason} (${code})`;
  return reason || 'no reason given by the operating system';
}

/**
 * Every failure to create or start the embedded server, as one line:
 * `could not <step> <path>: <OS error or tool line>[; server log: <tail>]; <what to do>`.
 * Exit 78 when the cause lasts (a permission, a read-only file system, a missing path, a damaged or
 * other-version cluster), else 75.
 */
export function embeddedFailure(step: string, target: string, cause: unknown, advice: string, logTail?: string): ExitError {
  const reason = reasonOf(cause);
  const code = (cause as { code?: unknown } | undefined)?.code;
  const lasting =
    (typeof code === 'string' && LASTING_ERRNOS.has(code)) ||
    [LASTING_TEXT, UNUSABLE_CLUSTER].some((text) => text.test(`${reason} ${logTail ?? ''}`));
  const log = logTail ? `; server log: ${logTail}` : '';
  return new ExitError(
    lasting ? ExitCode.config : ExitCode.unavailable,
    `could not ${step} ${target}: ${reason}${log}; ${advice}`,
    {
      cause,
    },
  );
}

/** The last lines of a server log as one line (` | ` between them), for an error message. */
export function logTail(text: string, lines = 3): string {
  return text
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean)
    .slice(-lines)
    .join(' | ');
}
