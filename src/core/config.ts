import { createECDH } from 'node:crypto';
import path from 'node:path';
import { Duration } from 'luxon';
import { parse as parseConnectionString } from 'pg-connection-string';
import { parseHostList, type HostList } from './addresses.js';
import { JOBS, JOB_NAMES, jobEnvName, type JobName } from './catalog.js';
import { configError } from './errors.js';
import { rememberSecret } from './redact.js';

export interface JobSettings {
  enabled: boolean;
  schedule: string;
}

export interface Config {
  /** Unset: the embedded PostgreSQL under `dataDir`. */
  databaseUrl?: string;
  dataDir: string;
  jobs: Record<JobName, JobSettings>;
  vapid?: { publicKey: string; privateKey: string; subject: string };
  chatWebhookUrl?: string;
  /** PUSH_ALLOWED_HOSTS: push endpoints may lead there although it is loopback or private (a self-hosted push service, the tests'). */
  pushAllowedHosts: HostList;
  /** NODE_EXTRA_CA_CERTS of this invocation's environment: extra CAs the push sender trusts (e.g. a private push service). */
  extraCaCertsFile?: string;
  exportStorage: 's3' | 'file';
  s3: { bucket?: string; region?: string; endpoint?: string; forcePathStyle: boolean; prefix: string };
  exportDir: string;
  exportUrlTtlSeconds: number;
  streakThreshold: number;
  reminderMaxLatenessMs: number;
  overdueNotify: boolean;
  rolloverMaxCatchupDays: number;
  rolloverCarryOver: boolean;
  heartbeatUrl?: string;
  metricsFile?: string;
  /** Where runs also push their metrics (a Prometheus Pushgateway); unset: no push. */
  pushgatewayUrl?: string;
  /**
   * PLANNER_FOLLOW: a `reminders` or `notifications` run keeps working until its schedule's next
   * tick (plus an overlap) instead of exiting once drained (src/core/follow.ts). The stock
   * schedule sets it on those lines; a run by hand leaves it off.
   */
  follow: boolean;
  /** PLANNER_LISTEN: following wakes on LISTEN/NOTIFY; false (behind PgBouncer in transaction mode): a 1 s poll. */
  listen: boolean;
  /** `prune` deletes finished job_runs and sent notifications older than this many days. */
  retentionDays: number;
  logLevel: string;
}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];
const MAX_PRESIGN_SECONDS = 7 * 24 * 3600;
// libpq's sslmode values, plus pg's own `no-verify`; anything else is a typo pg would silently read as "use TLS".
const SSL_MODES = ['disable', 'allow', 'prefer', 'require', 'verify-ca', 'verify-full', 'no-verify'];

/**
 * What is wrong with DATABASE_URL, read by pg's own parser (pg-connection-string, the one the
 * driver connects with), or undefined. The value is never quoted back: it holds a password.
 * An unencoded `@` in the user or password is refused: RFC 3986 §3.2.1 forbids it, and libpq
 * splits at the first `@` where pg splits at the last, so the two would reach different hosts.
 */
function databaseUrlProblem(value: string): string | undefined {
  const scheme = /^(postgres|postgresql):\/\//i.exec(value);
  if (!scheme) return 'DATABASE_URL must be a postgresql:// URL';
  const authority = value.slice(scheme[0].length).split(/[/?#]/, 1)[0];
  if (authority.split('@').length > 2) {
    return 'DATABASE_URL has an unencoded "@" in its user or password; percent-encode it as %40';
  }
  let parsed: ReturnType<typeof parseConnectionString>;
  try {
    parsed = parseConnectionString(value);
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    return code === 'ENOENT' || code === 'EACCES'
      ? `DATABASE_URL names a certificate file (sslrootcert, sslcert or sslkey) that cannot be read (${code})`
      : 'DATABASE_URL is not a valid postgresql:// URL';
  }
  rememberSecret(parsed.password);
  const sslmode = parsed.sslmode;
  if (sslmode !== undefined && !SSL_MODES.includes(String(sslmode))) {
    return `DATABASE_URL's sslmode must be one of ${SSL_MODES.join(', ')}`;
  }
  return undefined;
}

const decodeBase64Url = (value: string) => (/^[A-Za-z0-9_-]+$/.test(value) ? Buffer.from(value, 'base64url') : undefined);

/**
 * What is wrong with a VAPID key pair (RFC 8292 §3.2: an uncompressed P-256 public key, 65 bytes,
 * and its 32-byte private key, both URL-safe base64 without padding, as web-push expects them).
 */
function vapidKeyProblems(publicKey: string, privateKey: string): string[] {
  const problems: string[] = [];
  const publicBytes = decodeBase64Url(publicKey);
  const privateBytes = decodeBase64Url(privateKey);
  const publicOk = publicBytes?.length === 65 && publicBytes[0] === 0x04;
  if (!publicOk)
    problems.push(
      'VAPID_PUBLIC_KEY must be a P-256 public key in URL-safe base64 (65 bytes; `planner-jobs vapid-keys` prints one)',
    );
  if (privateBytes?.length !== 32) {
    problems.push(
      'VAPID_PRIVATE_KEY must be a P-256 private key in URL-safe base64 (32 bytes; `planner-jobs vapid-keys` prints one)',
    );
    return problems;
  }
  const ecdh = createECDH('prime256v1');
  try {
    ecdh.setPrivateKey(privateBytes);
  } catch {
    problems.push('VAPID_PRIVATE_KEY is not a valid P-256 private key');
    return problems;
  }
  if (publicOk && !ecdh.getPublicKey().equals(publicBytes))
    problems.push('VAPID_PUBLIC_KEY is not the public half of VAPID_PRIVATE_KEY');
  return problems;
}

/**
 * Reads and validates the whole environment once, before any work starts.
 * Every problem is reported together, each naming its variable, as one exit-78 error.
 */
export function loadConfig(env: NodeJS.ProcessEnv, cwd = process.cwd()): Config {
  const problems: string[] = [];
  const read = (name: string) => {
    const value = env[name]?.trim();
    return value === undefined || value === '' ? undefined : value;
  };
  const bool = (name: string, fallback: boolean) => {
    const value = read(name)?.toLowerCase();
    if (value === undefined) return fallback;
    if (['true', '1', 'yes', 'on'].includes(value)) return true;
    if (['false', '0', 'no', 'off'].includes(value)) return false;
    problems.push(`${name} must be true or false (got ${JSON.stringify(env[name])})`);
    return fallback;
  };
  const int = (name: string, fallback: number, min: number, max: number) => {
    const value = read(name);
    if (value === undefined) return fallback;
    const n = Number(value);
    if (!Number.isInteger(n) || n < min || n > max) {
      problems.push(`${name} must be a whole number from ${min} to ${max} (got ${JSON.stringify(value)})`);
      return fallback;
    }
    return n;
  };
  /** An http(s) URL as `fetch` takes it: fetch refuses a URL with `user:password@` (WHATWG Fetch, "new Request"). */
  const url = (name: string, protocols: string[]) => {
    const value = read(name);
    if (value === undefined) return undefined;
    const parsed = URL.canParse(value) ? new URL(value) : undefined;
    if (!parsed || !protocols.includes(parsed.protocol)) {
      problems.push(`${name} must be a ${protocols.join(' or ')} URL`);
      return undefined;
    }
    if (parsed.username || parsed.password) {
      problems.push(
        `${name} must not carry user:password@ (fetch refuses it); put the secret in the URL's path or token instead`,
      );
      return undefined;
    }
    return value;
  };
  // Set but blank is a mistake, not a request for the embedded database (which only an unset variable means).
  const databaseUrl = () => {
    if (env.DATABASE_URL === undefined) return undefined;
    const value = env.DATABASE_URL.trim();
    const problem =
      value === '' ? 'DATABASE_URL is set but empty; unset it for the embedded PostgreSQL' : databaseUrlProblem(value);
    if (problem) problems.push(problem);
    return problem ? undefined : value;
  };

  const dataDir = path.resolve(cwd, read('PLANNER_DATA_DIR') ?? '.planner-jobs');
  const jobs = Object.fromEntries(
    JOB_NAMES.map((job) => {
      const prefix = `JOB_${jobEnvName(job)}`;
      return [job, { enabled: bool(`${prefix}_ENABLED`, true), schedule: read(`${prefix}_SCHEDULE`) ?? JOBS[job].schedule }];
    }),
  ) as Record<JobName, JobSettings>;

  const vapidParts = [read('VAPID_PUBLIC_KEY'), read('VAPID_PRIVATE_KEY'), read('VAPID_SUBJECT')];
  let vapid: Config['vapid'];
  if (vapidParts.every(Boolean)) {
    const [publicKey, privateKey, subject] = vapidParts as string[];
    rememberSecret(privateKey);
    problems.push(...vapidKeyProblems(publicKey, privateKey));
    if (!/^(mailto:|https:)/.test(subject)) problems.push('VAPID_SUBJECT must be a mailto: or https: URL');
    vapid = { publicKey, privateKey, subject };
  } else if (vapidParts.some(Boolean)) {
    problems.push('VAPID_PUBLIC_KEY, VAPID_PRIVATE_KEY and VAPID_SUBJECT must be set together (or none, to turn push off)');
  }

  const pushHosts = parseHostList(read('PUSH_ALLOWED_HOSTS') ?? '');
  if (pushHosts.malformed.length > 0)
    problems.push(
      `PUSH_ALLOWED_HOSTS entries must be host names, IP addresses or CIDR ranges (not "${pushHosts.malformed.join('", "')}")`,
    );

  const bucket = read('S3_BUCKET');
  const storage = read('EXPORT_STORAGE') ?? (bucket ? 's3' : 'file');
  if (storage !== 's3' && storage !== 'file') problems.push(`EXPORT_STORAGE must be s3 or file (got ${JSON.stringify(storage)})`);
  if (storage === 's3' && !bucket) problems.push('EXPORT_STORAGE=s3 needs S3_BUCKET');

  const lateness = read('REMINDER_MAX_LATENESS') ?? 'PT24H';
  const latenessMs = Duration.fromISO(lateness).toMillis();
  if (!Number.isFinite(latenessMs) || latenessMs <= 0) {
    problems.push(`REMINDER_MAX_LATENESS must be a positive ISO 8601 duration like PT24H (got ${JSON.stringify(lateness)})`);
  }

  const logLevel = read('LOG_LEVEL')?.toLowerCase() ?? 'info';
  if (!LOG_LEVELS.includes(logLevel)) problems.push(`LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')}`);

  const config: Config = {
    databaseUrl: databaseUrl(),
    dataDir,
    jobs,
    vapid,
    chatWebhookUrl: url('CHAT_WEBHOOK_URL', ['http:', 'https:']),
    pushAllowedHosts: pushHosts.list,
    extraCaCertsFile: read('NODE_EXTRA_CA_CERTS') && path.resolve(cwd, read('NODE_EXTRA_CA_CERTS')!),
    exportStorage: storage === 's3' ? 's3' : 'file',
    s3: {
      bucket,
      region: read('S3_REGION'),
      endpoint: url('S3_ENDPOINT', ['http:', 'https:']),
      forcePathStyle: bool('S3_FORCE_PATH_STYLE', false),
      prefix: (read('S3_PREFIX') ?? 'exports').replace(/^\/+|\/+$/g, ''),
    },
    exportDir: path.resolve(cwd, read('EXPORT_DIR') ?? path.join(dataDir, 'exports')),
    exportUrlTtlSeconds: int('EXPORT_URL_TTL_SECONDS', 900, 1, MAX_PRESIGN_SECONDS),
    streakThreshold: int('STREAK_THRESHOLD', 75, 0, 100),
    reminderMaxLatenessMs: latenessMs,
    overdueNotify: bool('OVERDUE_NOTIFY', false),
    rolloverMaxCatchupDays: int('ROLLOVER_MAX_CATCHUP_DAYS', 31, 1, 3660),
    rolloverCarryOver: bool('ROLLOVER_CARRY_OVER', false),
    heartbeatUrl: url('HEARTBEAT_URL', ['http:', 'https:']),
    metricsFile: read('METRICS_FILE') && path.resolve(cwd, read('METRICS_FILE')!),
    pushgatewayUrl: url('PUSHGATEWAY_URL', ['http:', 'https:']),
    retentionDays: int('RETENTION_DAYS', 90, 1, 36_500),
    follow: bool('PLANNER_FOLLOW', false),
    listen: bool('PLANNER_LISTEN', true),
    logLevel,
  };
  if (problems.length > 0) throw configError(`bad configuration: ${problems.join('; ')}`);
  return config;
}
