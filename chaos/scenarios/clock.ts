import { runCli } from '../run.js';
import { rerunNote, type Scenario } from './support.js';

const HOUR = 3600_000;

/**
 * The clock goes backwards between runs: a run killed mid-work at T, then a run at T − 1 h (the
 * ones it makes must not repeat what T's run did), then the clock moves forward again and a run
 * finishes. Nothing may exist twice.
 */
export const clockScenario: Scenario = {
  name: 'clock-backwards',
  scale: 0.25,
  quick: false,
  calibrated: () => true,
  appliesTo: () => true,
  async run(ctx) {
    const first = ctx.nextNow();
    const run = await ctx.start(first);
    await ctx.waitMidRun(run, 0, 0.8);
    run.kill();
    ctx.record(await run.done, [0, 137]);
    const faultAt = Date.now();
    ctx.record(await runCli(ctx.args(new Date(first.getTime() - HOUR)), ctx.env, ctx.timeoutMs), [0]);
    const finished = await ctx.finish();
    return {
      runs: ctx.runs,
      faults: 1,
      recoverySeconds: (Date.now() - faultAt) / 1000,
      note: `killed at T, rerun at T − 1 h, then forward; ${rerunNote(finished)}`,
    };
  },
};
