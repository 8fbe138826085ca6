import { rerunNote, type Scenario } from './support.js';

const RUNS = 8;

/** Eight runs at once over the same items: they share the work (or wait on the job's lock), nothing twice. */
export const concurrentScenario: Scenario = {
  name: 'concurrent',
  scale: 1,
  quick: true,
  calibrated: () => false,
  appliesTo: () => true,
  async run(ctx) {
    const started = Date.now();
    const now = ctx.nextNow();
    const runs = await Promise.all(Array.from({ length: RUNS }, () => ctx.start(now)));
    for (const exit of await Promise.all(runs.map((run) => run.done))) ctx.record(exit, [0]);
    const seconds = (Date.now() - started) / 1000;
    // What the runs left for later (a retry they scheduled) is the next tick's.
    const finished = (await ctx.check()).lost > 0 ? await ctx.finish() : undefined;
    return {
      runs: ctx.runs,
      faults: 0,
      recoverySeconds: (Date.now() - started) / 1000,
      note: `${RUNS} runs at once, ${seconds.toFixed(1)} s${finished ? `; ${rerunNote(finished)}` : ''}`,
    };
  },
};
