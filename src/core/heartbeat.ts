import type { JobName } from './catalog.js';
import { warnOutsideFault, type Logger } from './logger.js';
import { describeError } from './errors.js';

/** A ping must never hold up a run for long, nor fail it. */
export const HEARTBEAT_TIMEOUT_MS = 5000;

/**
 * Healthchecks-style pings for one run: `<url>/start` when it starts, `<url>/<exit code>` when
 * it ends (with the summary as the body, which healthchecks.io shows in its log). `{job}` in
 * HEARTBEAT_URL is replaced by the job's name, so one URL can serve a check per job.
 */
export class Heartbeat {
  private readonly base: string;

  constructor(
    url: string,
    job: JobName,
    private readonly log: Logger,
  ) {
    this.base = url.replaceAll('{job}', encodeURIComponent(job)).replace(/\/+$/, '');
  }

  start(): Promise<void> {
    return this.ping('start');
  }

  finish(exitCode: number, summary?: unknown): Promise<void> {
    return this.ping(String(exitCode), summary === undefined ? undefined : JSON.stringify(summary));
  }

  private async ping(path: string, body?: string): Promise<void> {
    const url = `${this.base}/${path}`;
    try {
      const response = await fetch(url, {
        method: 'POST',
        body,
        headers: body ? { 'content-type': 'application/json' } : undefined,
        signal: AbortSignal.timeout(HEARTBEAT_TIMEOUT_MS),
      });
      await response.body?.cancel();
      if (!response.ok) this.log.warn({ status: response.status }, `heartbeat /${path} answered ${response.status}`);
    } catch (err) {
      warnOutsideFault(
        this.log,
        err,
        {},
        `heartbeat /${path} failed: ${describeError((err as Error).cause ?? err)}; the run goes on`,
      );
    }
  }
}
