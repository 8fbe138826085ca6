import { rerunNote, type Scenario } from './support.js';

/** PostgreSQL itself restarted mid-run (`pg_ctl restart`, only on the embedded server the suite owns). */
export const restartScenario: Scenario = {
  name: 'postgres-restart',
  scale: 0.25,
  quick: false,
  calibrated: () => true,
  skip: (server) => (server.owned ? undefined : 'TEST_DATABASE_URL is a server the suite does not own: not restarted'),
  appliesTo: () => true,
  async run(ctx) {
    const run = await ctx.start();
    await ctx.waitMidRun(run, 0.1, 0.6);
    const faultAt = Date.now();
    await ctx.server.restart();
    const exit = await run.done;
    await ctx.reconnect();
    const { halfWritten: halfWrittenAfterFault } = await ctx.recordFaulted(exit);
    const finished = await ctx.finish();
    return {
      runs: ctx.runs,
      faults: 1,
      recoverySeconds: (Date.now() - faultAt) / 1000,
      halfWrittenAfterFault,
      note: `exit ${exit.code}: ${ctx.runs[0].message.slice(0, 120)}; ${rerunNote(finished)}`,
    };
  },
};
