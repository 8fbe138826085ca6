import { rerunNote, type Scenario } from './support.js';

/** The job's database connections terminated mid-run (pg_terminate_backend): it exits 75 or 1, nothing half-written, a rerun finishes. */
export const connectionScenario: Scenario = {
  name: 'connection-killed',
  scale: 0.25,
  quick: true,
  calibrated: () => true,
  appliesTo: () => true,
  async run(ctx) {
    const run = await ctx.start();
    await ctx.waitMidRun(run, 0.1, 0.6);
    // Two statements: in one, the planner may call pg_terminate_backend before filtering on the name.
    const { rows } = await ctx.knex.raw<{ rows: { pid: number; state: string }[] }>(
      `SELECT pid, state FROM pg_stat_activity WHERE application_name = :app AND datname = current_database()`,
      { app: `planner-jobs:${ctx.job.name}` },
    );
    await ctx.knex.raw('SELECT pg_terminate_backend(pid) FROM unnest(?::int[]) AS pid', [rows.map((row) => row.pid)]);
    const faultAt = Date.now();
    const hit = rows.length > 0;
    const exit = await run.done;
    const { halfWritten: halfWrittenAfterFault } = hit ? await ctx.recordFaulted(exit) : { halfWritten: 0 };
    if (!hit) ctx.record(exit, [0]);
    const finished = await ctx.finish();
    return {
      runs: ctx.runs,
      faults: hit ? 1 : 0,
      recoverySeconds: (Date.now() - faultAt) / 1000,
      halfWrittenAfterFault,
      note: hit
        ? `${rows.length} connection(s) terminated (${rows.map((row) => row.state).join(', ')}), exit ${exit.code}: ${ctx.runs[0].message.slice(0, 120)}; ${rerunNote(finished)}`
        : 'the run ended before its connection could be terminated (fault missed)',
    };
  },
};
