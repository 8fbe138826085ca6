import { usageError } from '../../core/errors.js';
import type { Job, RunContext } from '../../core/runner.js';
import { claimNext, createClaimed, failAbandoned, userExists, type ClaimedExport } from './claim.js';
import type { FormatName } from './formats/index.js';
import { runExport } from './runExport.js';
import { SnapshotReader } from './rows.js';
import { openStorage, probeStorage, type DownloadLink } from './storage/index.js';

/**
 * Data Export Generator (every minute; any number of runs share the queue):
 * 0. (preflight, before the run is recorded) storage must take a write: else exit 75 or 78, nothing claimed;
 * 1. fail the jobs whose lease expired on their last attempt;
 * 2. claim the oldest due job (pending past its backoff, or processing with an expired lease);
 * 3. stream that user's data from PostgreSQL through the format into storage;
 * 4. mark it complete with a download link and notify the user (or schedule a retry);
 * 5. again, until the queue is empty or the time budget is spent.
 */
export const exportsJob: Job = {
  name: 'exports',
  preflight: probeStorage,
  async run(ctx) {
    const abandoned = await failAbandoned(ctx.db, ctx.clock());
    if (abandoned.length > 0) {
      ctx.log.warn({ ids: abandoned }, `${abandoned.length} export(s) failed for good: their lease expired on the last attempt`);
      ctx.tally.fail(abandoned.map((id) => ({ id, reason: 'lease expired on the last attempt' })));
    }
    const tried: string[] = [];
    await withStorage(ctx, async (exportOne) => {
      while (!ctx.shouldStop()) {
        const job = await claimNext(ctx.db, ctx.clock(), tried);
        if (!job) return;
        tried.push(job.id);
        await exportOne(job);
        ctx.progress(`${tried.length} export(s) · ${ctx.tally.counts.exported ?? 0} complete`);
      }
    });
  },
};

/**
 * `export --user ID --format F`: one export, now; `onLink` receives its link when it completes.
 * Recorded in job_runs as `export` (contract), so it neither pings the scheduled job's heartbeat
 * nor counts as its last success, and JOB_EXPORTS_ENABLED=false does not block it.
 */
export const exportNowJob = (userId: string, format: FormatName, onLink: (link: DownloadLink) => void): Job => ({
  name: 'exports',
  recordAs: 'export',
  checkInput: async (db) => {
    if (!(await userExists(db, userId))) throw usageError(`no user with id ${userId}`);
  },
  preflight: probeStorage,
  async run(ctx) {
    const job = await createClaimed(ctx.db, ctx.clock(), userId, format);
    if (!job) throw usageError(`no user with id ${userId}`);
    await withStorage(ctx, async (exportOne) => {
      const link = await exportOne(job);
      if (link) onLink(link);
    });
  },
});

/** Opens storage and the run's reading connection around `work`, and closes both after it. */
async function withStorage(
  ctx: RunContext,
  work: (exportOne: (job: ClaimedExport) => Promise<DownloadLink | undefined>) => Promise<void>,
): Promise<void> {
  const storage = await openStorage(ctx.config);
  const reader = new SnapshotReader(ctx.db);
  try {
    await work((job) => runExport(ctx, job, storage, reader));
  } finally {
    storage.close();
    await reader.close();
  }
}
