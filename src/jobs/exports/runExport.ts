import { Transform, Writable, pipeline } from 'node:stream';
import * as streams from 'node:stream/promises';
import { describeError, isUnavailable, unavailableError, type ExitError } from '../../core/errors.js';
import { redactSecrets } from '../../core/redact.js';
import type { RunContext } from '../../core/runner.js';
import { POLICY, type ClaimedExport } from './claim.js';
import { markComplete, markFailedAttempt, release, renewLease } from './finish.js';
import { FORMAT_VERSION } from './formats/format.js';
import { FORMATS } from './formats/index.js';
import type { SnapshotReader } from './rows.js';
import type { DownloadLink, ExportStorage } from './storage/index.js';

/** A stream that moves no byte for this long is stuck; checked every STALL_CHECK_MS. */
const STALL_SECONDS = 60;
const STALL_CHECK_MS = 5_000;

/** Why an export stopped before its end; the attempt is then released, not failed. */
class Stopped extends Error {}

/**
 * One claimed export: stream the user's data from PostgreSQL (through `reader`) through the
 * format's serializer into storage, then record the link (fenced) and notify the user. The lease
 * is renewed while it streams; a SIGTERM or a lost lease stops the stream. In a dry run the bytes
 * are counted and dropped: nothing is uploaded, nothing written.
 *
 * A failure of the export's own (its data, a storage error about this object) charges it an
 * attempt and the run goes on. A fault of the run (storage full, misconfigured or unreachable;
 * the database unreachable) hands the export back uncharged and throws (exit 75 or 78).
 */
export async function runExport(
  ctx: RunContext,
  job: ClaimedExport,
  storage: ExportStorage,
  reader: SnapshotReader,
): Promise<DownloadLink | undefined> {
  const format = FORMATS[job.format];
  const key = storage.key(job.user_id, job.id, format.extension);
  const log = ctx.log.child({ exportId: job.id, userId: job.user_id, format: job.format, attempt: job.attempt });
  const stop = new AbortController();
  const onSignal = () => stop.abort(new Stopped('interrupted by a signal'));
  ctx.signal?.addEventListener('abort', onSignal, { once: true });
  if (ctx.signal?.aborted) onSignal();
  const heartbeat = ctx.dryRun
    ? undefined
    : setInterval(() => {
        renewLease(ctx.db, job, ctx.clock())
          .then((held) => held || stop.abort(new Stopped('its lease expired and another run took the job over')))
          .catch((err) => log.warn({ err }, 'could not renew the export lease'));
      }, POLICY.leaseMs / 4);

  log.info({ key: `${storage.where}/${key}` }, `export ${job.id} started (user ${job.user_id}, ${job.format})`);
  let bytes = 0;
  // Some lost connections surface as no error at all, only as silence: a stream that stops moving
  // fails the attempt (retried later) instead of holding the run and its lease forever.
  let progress = { bytes, at: Date.now() };
  const watchdog = setInterval(() => {
    if (bytes !== progress.bytes) progress = { bytes, at: Date.now() };
    else if (Date.now() - progress.at >= STALL_SECONDS * 1000) stop.abort(new Error(`no progress for ${STALL_SECONDS} s`));
  }, STALL_CHECK_MS);
  try {
    const exportedAt = ctx.clock();
    await reader.read(job.user_id, async (rows) => {
      const body = await format.render(rows, {
        format_version: FORMAT_VERSION,
        exported_at: exportedAt.toISOString(),
        user_id: job.user_id,
      });
      // One chain: when storage gives up on the stream (or the stream fails), every part is destroyed.
      const counted = pipeline(
        body,
        byteCounter((n) => (bytes += n)),
        () => undefined,
      );
      if (ctx.dryRun) await discard(counted, stop.signal);
      else
        await storage.put(
          key,
          counted,
          { contentType: format.contentType, filename: `planner-export-${job.id}.${format.extension}` },
          stop.signal,
        );
    });
    if (ctx.dryRun) {
      log.info({ bytes }, `export ${job.id}: would store ${bytes} bytes (dry run: nothing uploaded)`);
      ctx.tally.done('exported', [job.id]);
      return undefined;
    }
    const at = ctx.clock();
    const link = await storage.link(key, at);
    if (!(await markComplete(ctx.db, job, { key, link, bytes, at, notifyAfter: ctx.now }))) {
      log.warn(`export ${job.id}: another run took the job over; its result stands`);
      ctx.tally.leaveAlone('lease_lost', [job.id]);
      return undefined;
    }
    // A presigned URL is a bearer credential and stays out of logs; a file path is not.
    const where = link.expiresAt ? `link valid until ${link.expiresAt.toISOString()}` : link.url;
    log.info(
      { bytes, urlExpiresAt: link.expiresAt },
      `export ${job.id} complete: ${bytes} bytes, ${where}; user ${job.user_id} notified`,
    );
    ctx.tally.done('exported', [job.id]);
    ctx.tally.count('bytes', bytes);
    return link;
  } catch (err) {
    await settleFailure(ctx, job, runFault(storage, err), err, stop.signal, ctx.clock(), log);
    return undefined;
  } finally {
    clearInterval(heartbeat);
    clearInterval(watchdog);
    ctx.signal?.removeEventListener('abort', onSignal);
  }
}

async function settleFailure(
  ctx: RunContext,
  job: ClaimedExport,
  fault: ExitError | undefined,
  err: unknown,
  stop: AbortSignal,
  now: Date,
  log: RunContext['log'],
) {
  if (stop.aborted && stop.reason instanceof Stopped) {
    const released = await release(ctx.db, job, { charge: true });
    log.warn(`export ${job.id} stopped: ${stop.reason.message}${released ? '; released for the next run' : ''}`);
    ctx.tally.leaveAlone(released ? 'released' : 'lease_lost', [job.id]);
    return;
  }
  // The run's fault, not the export's: back to pending with its attempt taken back, and the run
  // stops (the next export would fail alike). If the database is what failed, the release may
  // fail too: the lease then hands the export to a later run.
  if (fault && !stop.aborted) {
    const released = await release(ctx.db, job, { charge: false }).catch(() => false);
    log.warn(`export ${job.id} handed back uncharged${released ? '' : ' (its lease will)'}: ${fault.message}`);
    if (released) ctx.tally.leaveAlone('released', [job.id]);
    throw fault;
  }
  // Aborted by the watchdog: its reason says more than the upload's "aborted".
  const reason = redactSecrets(describeError(stop.aborted ? stop.reason : err));
  const outcome = await markFailedAttempt(ctx.db, job, reason, now);
  log.error(
    { err, outcome },
    `export ${job.id} failed (attempt ${job.attempt}, ${outcome === 'retry' ? 'will retry' : outcome}): ${reason}`,
  );
  ctx.tally.fail([{ id: job.id, reason }]);
  ctx.tally.count(outcome === 'retry' ? 'retry_scheduled' : outcome === 'failed' ? 'failed_for_good' : 'lease_lost', 1);
}

/** Storage's verdict on the error (full, misconfigured, unreachable), else the database unreachable, else none: the export's own failure. */
function runFault(storage: ExportStorage, err: unknown): ExitError | undefined {
  const fault = storage.fault(err);
  if (fault) return fault;
  if (isUnavailable(err))
    return unavailableError(`cannot reach the database: ${redactSecrets(describeError(err))}; try again later`, err);
  return undefined;
}

const byteCounter = (add: (n: number) => void) =>
  new Transform({
    transform(chunk: Buffer, _encoding, done) {
      add(chunk.length);
      done(null, chunk);
    },
  });

/** The dry run's storage: read everything, keep nothing. */
const discard = (body: NodeJS.ReadableStream, signal: AbortSignal) =>
  streams.pipeline(body, new Writable({ write: (_chunk, _encoding, done) => done() }), { signal });
