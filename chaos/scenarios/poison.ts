import { countsOf } from '../jobs/support.js';
import type { Scenario } from './support.js';

/**
 * Hostile rows the API can write, planted first in claim order beside the job's items (issue #14
 * part 2). The first run fails each of them alone (exit 1) and still finishes every other item; the
 * rows are parked, so the next run leaves them out and exits 0. A planted row the job changed, or
 * one not parked, counts as wrong.
 */
export const poisonScenario: Scenario = {
  name: 'poison-rows',
  scale: 0.1,
  quick: true,
  calibrated: () => false,
  appliesTo: (job) => job.poison !== undefined,
  async run(ctx) {
    const poison = ctx.job.poison!;
    const started = Date.now();
    const planted = (await ctx.knex.raw<{ rows: unknown[] }>(poison.plant)).rows.length;
    const first = await (await ctx.start()).done;
    const afterFirst = await ctx.check();
    // Blocked good items would show as lost here, before any rerun could hide them.
    ctx.record(first, afterFirst.lost === 0 ? [1] : []);
    ctx.record(await (await ctx.start()).done, [0]);
    const { parked } = await countsOf<'parked'>(ctx.knex, 'SELECT count(*) AS parked FROM parked_items WHERE job = :job', {
      job: ctx.job.name,
    });
    const { n: changed } = await countsOf<'n'>(ctx.knex, poison.changed);
    return {
      runs: ctx.runs,
      faults: 0,
      recoverySeconds: (Date.now() - started) / 1000,
      wrong: changed + Math.abs(planted - parked),
      note: `${planted} hostile rows first in claim order: ${parked} parked, ${changed} changed; the first run finished ${afterFirst.done} of ${afterFirst.expected}`,
    };
  },
};
