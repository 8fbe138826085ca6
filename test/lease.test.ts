// Pure table tests of the queues' lease-and-retry policy and of `settle`: the random draw and
// the clock are injected, nothing opens a connection.
import { describe, expect, test } from 'vitest';
import { runClock } from '../src/core/clock.js';
import { QUEUE_POLICIES, leaseUntil, nextAttemptAt, parseRetryAfter, retryDelayMs } from '../src/core/lease.js';
import { settle } from '../src/jobs/notifications/settle.js';
import type { ClaimedNotification, Delivery } from '../src/jobs/notifications/types.js';

const NOW = new Date('2025-06-01T12:00:00Z');
const { notifications, exports } = QUEUE_POLICIES;
const lowest = () => 0;
const highest = () => 0.999_999_999;

describe('backoff: equal jitter, the ceiling doubling per attempt up to the cap', () => {
  test.for([
    // policy, attempts, random, expected ms
    ['notifications', 1, lowest, 15_000],
    ['notifications', 1, highest, 30_000],
    ['notifications', 2, lowest, 30_000],
    ['notifications', 4, highest, 240_000],
    ['notifications', 20, lowest, 1_800_000],
    ['notifications', 20, highest, 3_600_000],
    ['exports', 1, lowest, 60_000],
    ['exports', 2, lowest, 120_000],
    ['exports', 3, lowest, 240_000],
    ['exports', 4, lowest, 480_000],
    ['exports', 4, highest, 960_000],
  ] as const)('%s after attempt %i', ([queue, attempts, random, expected]) => {
    expect(retryDelayMs(QUEUE_POLICIES[queue], attempts, undefined, random)).toBe(expected);
  });
});

describe('Retry-After replaces the backoff, between 1 s and the cap', () => {
  test.for([
    [0, 1000],
    [5_000, 5_000],
    [7 * 86_400_000, 3_600_000],
  ])('Retry-After %i ms waits %i ms', ([retryAfterMs, expected]) => {
    expect(retryDelayMs(notifications, 1, retryAfterMs, lowest)).toBe(expected);
  });

  test.for([
    ['120', 120_000],
    [' 7 ', 7_000],
    ['Sun, 01 Jun 2025 12:05:00 GMT', 300_000],
    ['Sun, 01 Jun 2025 11:00:00 GMT', 0],
    ['soon', undefined],
    ['', undefined],
    [null, undefined],
  ] as const)('parses %j as %s ms', ([header, expected]) => {
    expect(parseRetryAfter(header, NOW.getTime())).toBe(expected);
  });
});

describe('attempts: the last one is final', () => {
  test.for([1, 2, 3, 4])('after attempt %i of 5 a retry is scheduled', (attempts) => {
    expect(nextAttemptAt(exports, attempts, NOW, { random: lowest })).toEqual(
      new Date(NOW.getTime() + 60_000 * 2 ** (attempts - 1)),
    );
  });

  test('after attempt 5 of 5 there is none', () => {
    expect(nextAttemptAt(exports, 5, NOW)).toBeUndefined();
  });
});

describe('leases: held for the queue lease past the run`s clock, which moves from the run`s now', () => {
  test('a claim at the run`s now holds 5 minutes (notifications) or 2 (exports)', () => {
    expect(leaseUntil(notifications, NOW)).toEqual(new Date('2025-06-01T12:05:00Z'));
    expect(leaseUntil(exports, NOW)).toEqual(new Date('2025-06-01T12:02:00Z'));
  });

  test('the clock starts at the run`s now (a replayed --now) and never goes back', () => {
    const clock = runClock(NOW);
    const first = clock();
    expect(first.getTime() - NOW.getTime()).toBeGreaterThanOrEqual(0);
    expect(first.getTime() - NOW.getTime()).toBeLessThan(1000);
    expect(clock().getTime()).toBeGreaterThanOrEqual(first.getTime());
  });
});

const claimed = (fields: Partial<ClaimedNotification> = {}): ClaimedNotification => ({
  id: '00000000-0000-4000-8000-000000000001',
  user_id: '00000000-0000-4000-8000-000000000002',
  title: 'Pay rent',
  body: null,
  url: null,
  data: {},
  source: 'reminder',
  created_at: NOW,
  attempts: 1,
  lease_token: '00000000-0000-4000-8000-000000000003',
  subscriptions: [],
  chat_owed: false,
  ...fields,
});

const delivery = (outcome: Delivery['outcome'], fields: Partial<Delivery> = {}): Delivery => ({
  channel: 'web',
  subscription_id: null,
  status_code: null,
  outcome,
  error: outcome === 'delivered' ? null : `push service answered ${outcome}`,
  ...fields,
});

describe('settle: a notification`s state after an attempt', () => {
  test.for([
    ['every channel delivered', 1, [delivery('delivered')], { status: 'sent', run_after: null, last_error: null }],
    ['gone is final too', 1, [delivery('gone')], { status: 'sent', run_after: null }],
    [
      'a retry within the attempts: backoff from now',
      2,
      [delivery('delivered'), delivery('retry')],
      { status: 'pending', run_after: new Date(NOW.getTime() + 30_000), last_error: 'web: push service answered retry' },
    ],
    [
      'the longest Retry-After wins',
      1,
      [delivery('retry', { retryAfterMs: 5_000 }), delivery('retry', { retryAfterMs: 90_000 })],
      { status: 'pending', run_after: new Date(NOW.getTime() + 90_000) },
    ],
    [
      'a retry on the last attempt gives up',
      5,
      [delivery('retry')],
      { status: 'failed', run_after: null, last_error: 'gave up after 5 attempts: web: push service answered retry' },
    ],
    [
      'a configuration problem fails at once',
      1,
      [delivery('retry'), delivery('failed', { loud: true, error: 'push service answered 403' })],
      { status: 'failed', run_after: null, last_error: 'web: push service answered 403' },
    ],
  ] as const)('%s', ([, attempts, deliveries, expected]) => {
    const settlement = settle(claimed({ attempts }), deliveries, NOW, lowest);
    expect(settlement).toMatchObject({ id: claimed().id, lease_token: claimed().lease_token, ...expected });
  });
});
