import { rerunNote, type Scenario } from './support.js';

/**
 * The outside service misbehaves. notifications: a third of the push endpoints answer 429, 500 or
 * hang before they accept (scripted in the world); runs retry them on later ticks. exports: storage
 * refuses connections (and resets open uploads) mid-run, then comes back.
 */
export const servicesScenario: Scenario = {
  name: 'service-faults',
  // The storage fault is timed; the push service's faults are scripted (a measuring run would use them up).
  scale: 0.25,
  quick: true,
  calibrated: (job) => job.service === 'storage',
  appliesTo: (job) => job.service !== undefined,
  async run(ctx) {
    const started = Date.now();
    const storage = ctx.world.storage;
    if (!storage) {
      const finished = await ctx.finish([0, 1], 8);
      return {
        runs: ctx.runs,
        faults: 0,
        recoverySeconds: finished.seconds,
        note: `429/500/hang for 1/3 of the endpoints; ${rerunNote(finished)}`,
      };
    }
    const run = await ctx.start();
    await ctx.waitMidRun(run, 0.2, 0.6);
    await storage.refuse();
    const faultAt = Date.now();
    const exit = await run.done;
    const { halfWritten: halfWrittenAfterFault } = await ctx.recordFaulted(exit);
    await storage.accept();
    const finished = await ctx.finish([0], 5);
    return {
      runs: ctx.runs,
      faults: 1,
      recoverySeconds: (Date.now() - faultAt) / 1000,
      halfWrittenAfterFault,
      note: `storage refused ${((faultAt - started) / 1000).toFixed(1)} s into the run, exit ${exit.code}; ${rerunNote(finished)}`,
    };
  },
};
