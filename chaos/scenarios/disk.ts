import { countsOf } from '../jobs/support.js';
import { sleep, type Exit } from '../run.js';
import { smallDisk, unwritableDirectory } from '../../test/support/exports.js';
import type { Counts } from '../types.js';
import { rerunNote, type Scenario, type ScenarioContext } from './support.js';

/** Only the job that writes files: exports, switched from S3 to file storage for these scenarios. */
const writesFiles = (job: { service?: string }) => job.service === 'storage';

/** Mounting needs root and a kernel that lets this process mount; said once, as the skip reason. */
const mountProblem = () => (process.getuid?.() === 0 ? undefined : 'needs root to mount a tmpfs or a read-only bind mount');

/**
 * After a storage fault no export may be charged an attempt or left `processing` (issue #14 part 1):
 * counted from the rows, before storage comes back.
 */
async function charged(ctx: ScenarioContext): Promise<number> {
  const { n } = await countsOf<'n'>(
    ctx.knex,
    `SELECT count(*) AS n FROM export_jobs WHERE status = 'processing' OR (status = 'pending' AND attempts > 0) OR status = 'failed'`,
  );
  return n;
}

/**
 * The end both storage faults share: the faulted run and a rerun on the still-broken storage must
 * exit `code` (0 only when everything was already done), and no export may be charged; then storage
 * comes back and reruns finish the rest.
 */
async function recoverFromStorageFault(
  ctx: ScenarioContext,
  exit: Exit,
  faulted: Counts,
  code: number,
  restore: () => Promise<void>,
): Promise<{ unfairlyCharged: number; finished: Awaited<ReturnType<ScenarioContext['finish']>> }> {
  const allowed = faulted.lost === 0 ? [0] : [code];
  ctx.record(exit, allowed);
  ctx.record(await (await ctx.start()).done, allowed);
  const unfairlyCharged = await charged(ctx);
  await restore();
  return { unfairlyCharged, finished: await ctx.finish([0], 3) };
}

/** What both storage faults share: a small scale, in the quick suite, mounts (root), jobs that write files. */
const STORAGE_FAULT = {
  scale: 0.1,
  quick: true,
  calibrated: () => false,
  skip: mountProblem,
  appliesTo: writesFiles,
} satisfies Partial<Scenario>;

/**
 * The disk fills up: EXPORT_DIR is a tmpfs of 48 KiB, room for the probe and a few small exports.
 * The run stops with 75 when a write hits ENOSPC (the export handed back uncharged), a rerun on
 * the still-full disk stops at the probe; the disk grows and a rerun finishes the rest.
 */
export const fullDiskScenario: Scenario = {
  name: 'full-disk',
  ...STORAGE_FAULT,
  async run(ctx) {
    const disk = await smallDisk(48 * 1024);
    if (typeof disk === 'string') throw new Error(disk);
    ctx.world.useDirectory!(disk);
    const started = Date.now();
    const exit = await (await ctx.start()).done;
    const full = await ctx.check();
    const { unfairlyCharged, finished } = await recoverFromStorageFault(ctx, exit, full, 75, disk.restore);
    return {
      runs: ctx.runs,
      faults: 1,
      recoverySeconds: (Date.now() - started) / 1000,
      halfWrittenAfterFault: full.halfWritten + unfairlyCharged,
      note: `${full.done} of ${full.expected} fitted on the full disk; ${unfairlyCharged} charged or left processing; ${rerunNote(finished)}`,
    };
  },
};

/**
 * EXPORT_DIR becomes read-only mid-run (remounted between two files): the run stops with 78 (the
 * export it was writing handed back uncharged), a rerun stops at the probe with 78; the directory
 * becomes writable again and a rerun finishes the rest.
 */
export const unwritableDirectoryScenario: Scenario = {
  name: 'unwritable-dir',
  ...STORAGE_FAULT,
  async run(ctx) {
    const directory = await unwritableDirectory();
    if (typeof directory === 'string') throw new Error(directory);
    ctx.world.useDirectory!(directory);
    await directory.restore();
    const run = await ctx.start();
    // Mid-run: once the first export is complete, the next one meets a read-only directory.
    let ended = false;
    void run.done.then(() => (ended = true));
    while (!ended && (await ctx.check()).done === 0) await sleep(50);
    await directory.refuse();
    const faultAt = Date.now();
    const exit = await run.done;
    const faulted = await ctx.check();
    const { unfairlyCharged, finished } = await recoverFromStorageFault(ctx, exit, faulted, 78, directory.restore);
    return {
      runs: ctx.runs,
      faults: 1,
      recoverySeconds: (Date.now() - faultAt) / 1000,
      halfWrittenAfterFault: faulted.halfWritten + unfairlyCharged,
      note: `read-only mid-run, exit ${exit.code}; ${unfairlyCharged} charged or left processing; ${rerunNote(finished)}`,
    };
  },
};
