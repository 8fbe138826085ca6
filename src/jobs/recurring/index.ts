import { runSteps } from '../../core/batches.js';
import type { Job } from '../../core/runner.js';
import { createNextInstances } from './createNextInstances.js';
import { resolveZones } from '../../core/timezones.js';

/**
 * Recurring Task Processor (every 5 minutes; any number of runs share the work, row by row):
 * 1. claim completed recurring tasks with a due date not processed yet (`FOR UPDATE SKIP LOCKED`);
 * 2. compute each one's next due date from its series' anchor, on the owner's wall clock (the
 *    IANA zone their stored zone name resolves to, read once per run: `resolveZones`);
 * 3. create the next instance: same metadata, open, not completed, child of the source (once:
 *    the database refuses a second child);
 * 4. recreate the source's reminders at the same offset from the new due date;
 * 5. stamp the source with `last_processed_at`.
 * Steps 2 to 5 are one statement and one transaction per batch. A task whose owner's zone is
 * unknown, or whose next date overflows the calendar, fails alone; the rest go on.
 */
export const recurringJob: Job = {
  name: 'recurring',
  async run(ctx) {
    await runSteps(ctx, [createNextInstances(await resolveZones(ctx.db, ctx.log))], 'rows');
  },
};
