import { rerunNote, type Scenario } from './support.js';

/** Runs killed with SIGKILL at a random moment of their work, one after another; then one rerun must finish. */
export const sigkillScenario: Scenario = {
  name: 'sigkill',
  scale: 0.25,
  quick: true,
  calibrated: () => true,
  appliesTo: () => true,
  async run(ctx) {
    const kills = ctx.quick ? 3 : 20;
    let midRun = 0;
    let finishedFirst = 0;
    for (let i = 0; i < kills; i++) {
      const run = await ctx.start();
      // Each kill lands within about 2/kills of a run's work, so the kills together spread over all of it.
      const working = await ctx.waitMidRun(run, 0, 2 / kills);
      run.kill();
      const exit = ctx.record(await run.done, [0, 137]);
      if (exit.code === 137 && working) midRun += 1;
      if (exit.code !== 137) finishedFirst += 1;
    }
    const finished = await ctx.finish();
    return {
      runs: ctx.runs,
      faults: kills - finishedFirst,
      recoverySeconds: finished.seconds,
      note: `${midRun}/${kills} kills mid-run${finishedFirst ? `, ${finishedFirst} runs ended before their kill` : ''}; ${rerunNote(finished)}`,
    };
  },
};
