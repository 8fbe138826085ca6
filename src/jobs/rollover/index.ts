import { runSteps } from '../../core/batches.js';
import type { Config } from '../../core/config.js';
import type { Job } from '../../core/runner.js';
import { closeDays } from './closeDays.js';
import { zoneDays } from './localDays.js';
import { rejectUnknownZones } from './unknownZones.js';
import { resolveZones } from '../../core/timezones.js';

/** What the rollover job reads from the configuration. */
export interface RolloverSettings {
  /** STREAK_THRESHOLD: the score (percent) that keeps a streak. */
  streakThreshold: number;
  /** ROLLOVER_MAX_CATCHUP_DAYS: most local days one user's rollover closes in one go. */
  maxCatchupDays: number;
  /** ROLLOVER_CARRY_OVER: unfinished plan tasks move to the new day's plan. */
  carryOver: boolean;
}

export const rolloverSettings = (config: Config): RolloverSettings => ({
  streakThreshold: config.streakThreshold,
  maxCatchupDays: config.rolloverMaxCatchupDays,
  carryOver: config.rolloverCarryOver,
});

export interface RolloverOptions {
  /** Only users whose zone resolves to this one (`--tz`, any spelling or link); all zones when absent. */
  zone?: string;
}

/**
 * Daily User Rollover & Streak Calculation (every 15 minutes; any number of runs share the work):
 * 1. find the zone names in use, resolve each to its IANA zone (`resolveZones`), and the local
 *    date in each at the run's now;
 * 2. for the users whose local yesterday is not closed yet, batch by batch and each day once:
 *    score the day, walk the streak, reset the routine, carry unfinished plan tasks over;
 * 3. count the users whose stored zone is unknown as failed.
 */
export const rolloverJob = (options: RolloverOptions = {}): Job => ({
  name: 'rollover',
  async run(ctx) {
    const days = await zoneDays(ctx.db, ctx.now, await resolveZones(ctx.db, ctx.log), options.zone);
    ctx.log.info(
      { zones: days.zones.length, unknownZones: days.unknown, onlyZone: options.zone },
      `rollover: users in ${days.zones.length} zone(s)${days.unknown.length > 0 ? `, ${days.unknown.length} unknown zone(s)` : ''}`,
    );
    await runSteps(ctx, [closeDays(days, rolloverSettings(ctx.config)), rejectUnknownZones(days.unknown)], 'rows');
  },
});
