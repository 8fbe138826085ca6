// The push delivery policy (TTL, urgency, topic): pure, the clock injected.
import { describe, expect, test } from 'vitest';
import { pushPolicy, pushTopic } from '../src/jobs/notifications/policy.js';

const NOW = new Date('2025-06-01T12:00:00Z');
const ago = (seconds: number) => new Date(NOW.getTime() - seconds * 1000);

describe('pushPolicy: the source sets TTL and urgency, the producer may override, age shortens the TTL', () => {
  test.for([
    ['a fresh reminder', { source: 'reminder', data: {}, created_at: NOW }, { ttlSeconds: 3600, urgency: 'high' }],
    ['a reminder ten minutes old', { source: 'reminder', data: {}, created_at: ago(600) }, { ttlSeconds: 3000, urgency: 'high' }],
    ['a reminder two hours old', { source: 'reminder', data: {}, created_at: ago(7200) }, { ttlSeconds: 0, urgency: 'high' }],
    ['an overdue notice', { source: 'overdue', data: {}, created_at: NOW }, { ttlSeconds: 43_200, urgency: 'normal' }],
    ['an unknown source', { source: 'digest', data: {}, created_at: NOW }, { ttlSeconds: 86_400, urgency: 'normal' }],
    [
      "the producer's TTL and urgency",
      { source: 'export', data: { ttl_seconds: 60, urgency: 'low' }, created_at: NOW },
      { ttlSeconds: 60, urgency: 'low' },
    ],
    [
      'a malformed TTL and urgency fall back to the source',
      { source: 'export', data: { ttl_seconds: -5, urgency: 'urgent' }, created_at: NOW },
      { ttlSeconds: 86_400, urgency: 'normal' },
    ],
  ] as const)('%s', ([, notification, expected]) => {
    expect(pushPolicy({ ...notification, data: { ...notification.data } }, NOW)).toEqual(expected);
  });
});

describe('pushTopic: one topic per notification, the same on every retry, within 32 URL-safe characters', () => {
  test('a uuid becomes 22 base64url characters, the same each time', () => {
    const topic = pushTopic('0b6e2f0e-9f4b-4c1e-8a53-2a0d6f1c9e77');
    expect(topic).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect(pushTopic('0b6e2f0e-9f4b-4c1e-8a53-2a0d6f1c9e77')).toBe(topic);
  });
});
