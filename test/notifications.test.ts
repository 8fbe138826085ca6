import type { Knex } from 'knex';
import webpush from 'web-push';
import { afterEach, beforeEach, describe, expect } from 'vitest';
import { pushTopic } from '../src/jobs/notifications/policy.js';
import { ChatReceiver } from './support/chatReceiver.js';
import { cli } from './support/cli.js';
import { test } from './support/db.js';
import { at, createUser, plusMs } from './support/factories.js';
import { PushService, type TestSubscription } from './support/pushService.js';

const NOW = '2025-06-01T12:00:00.000Z';
const now = at(NOW);
const vapid = webpush.generateVAPIDKeys();

let push: PushService;
let chat: ChatReceiver;
beforeEach(async () => {
  push = await PushService.start(vapid.publicKey);
  chat = await ChatReceiver.start();
});
afterEach(async () => {
  await push.close();
  await chat.close();
});

const env = (db: { url: string }, extra: Record<string, string> = {}) => ({
  DATABASE_URL: db.url,
  VAPID_PUBLIC_KEY: vapid.publicKey,
  VAPID_PRIVATE_KEY: vapid.privateKey,
  VAPID_SUBJECT: 'mailto:ops@example.test',
  ...push.clientEnv,
  ...extra,
});
const send = (db: { url: string }, extra: Record<string, string> = {}, args: string[] = [], when = NOW) =>
  cli(['notifications', '--now', when, '--json', ...args], env(db, extra));

async function subscribe(
  knex: Knex,
  userId: string,
  subscription = push.subscribe(),
): Promise<TestSubscription & { id: string }> {
  const [{ id }] = await knex('push_subscriptions')
    .insert({ user_id: userId, endpoint: subscription.endpoint, p256dh: subscription.p256dh, auth: subscription.auth })
    .returning('id');
  return { ...subscription, id };
}

async function notify(knex: Knex, fields: Record<string, unknown>) {
  const [row] = await knex('notifications')
    .insert({
      title: 'Pay rent',
      body: 'Due today',
      url: '/tasks/1',
      source: 'reminder',
      run_after: now,
      created_at: now,
      ...fields,
    })
    .returning('*');
  return row as { id: string; user_id: string };
}

const notification = (knex: Knex, id: string) => knex('notifications').where({ id }).first();
const deliveries = (knex: Knex, id: string) => knex('notification_deliveries').where({ notification_id: id }).orderBy('id');

describe('notifications: web push delivered (201/202)', () => {
  test('every subscription gets the decrypted message with TTL, Urgency and Topic; one VAPID JWT for the run', async ({ db }) => {
    const user = await createUser(db.knex);
    const phone = await subscribe(db.knex, user.id);
    const laptop = await subscribe(db.knex, user.id);
    const n = await notify(db.knex, { user_id: user.id, created_at: plusMs(now, -600_000) });
    const other = await notify(db.knex, { user_id: user.id, title: 'Export ready', source: 'export' });
    push.script(laptop, { status: 202 });

    const run = await send(db);

    expect(run.code).toBe(0);
    expect(push.rejected).toEqual([]);
    expect(run.json()).toMatchObject({ status: 'succeeded', processed: 2, counts: { sent: 2, push_delivered: 4 } });
    const [message] = push.messagesOf(phone).filter((m) => m.payload.id === n.id);
    expect(message).toMatchObject({
      payload: { id: n.id, title: 'Pay rent', body: 'Due today', url: '/tasks/1', source: 'reminder' },
      ttl: 3000, // a reminder lives an hour, ten minutes of it are gone
      urgency: 'high',
      topic: pushTopic(n.id),
    });
    expect(push.messagesOf(laptop).find((m) => m.payload.id === other.id)).toMatchObject({ ttl: 86_400, urgency: 'normal' });
    expect(push.received).toHaveLength(4);
    expect(push.tokens.size).toBe(1);
    expect(await notification(db.knex, n.id)).toMatchObject({
      status: 'sent',
      sent_at: now,
      attempts: 1,
      locked_until: null,
      last_error: null,
    });
    expect(await deliveries(db.knex, n.id)).toMatchObject([
      { channel: 'web', outcome: 'delivered', attempted_at: now },
      { channel: 'web', outcome: 'delivered', attempted_at: now },
    ]);
    expect((await deliveries(db.knex, n.id)).map((d) => d.status_code).sort()).toEqual([201, 202]);
    expect(await db.knex('push_subscriptions').where({ id: phone.id }).first()).toMatchObject({
      last_success_at: now,
      failure_count: 0,
    });
  });

  test('a user without subscriptions, or with push off, has the in-app row only: sent, nothing pushed', async ({ db }) => {
    const user = await createUser(db.knex);
    await subscribe(db.knex, user.id);
    const lonely = await notify(db.knex, { user_id: (await createUser(db.knex)).id });
    const n = await notify(db.knex, { user_id: user.id });

    const run = await cli(['notifications', '--now', NOW, '--json'], { DATABASE_URL: db.url });

    expect(run.code).toBe(0);
    expect(run.stderr).toContain('Web Push is off');
    expect(push.received).toHaveLength(0);
    for (const id of [lonely.id, n.id]) expect(await notification(db.knex, id)).toMatchObject({ status: 'sent' });
  });

  test('not yet due, or already sent: left alone', async ({ db }) => {
    const user = await createUser(db.knex);
    await subscribe(db.knex, user.id);
    await notify(db.knex, { user_id: user.id, run_after: plusMs(now, 1) });
    await notify(db.knex, { user_id: user.id, status: 'sent' });

    const run = await send(db);

    expect(run.json()).toMatchObject({ processed: 0 });
    expect(push.received).toHaveLength(0);
  });
});

describe('notifications: 404/410 delete the subscription, the others still get it', () => {
  test('gone subscriptions are deleted, the history stays, the notification is sent', async ({ db }) => {
    const user = await createUser(db.knex);
    const expired = await subscribe(db.knex, user.id);
    const unknown = await subscribe(db.knex, user.id);
    const alive = await subscribe(db.knex, user.id);
    push.script(expired, { status: 410 });
    push.script(unknown, { status: 404 });
    const n = await notify(db.knex, { user_id: user.id });

    const run = await send(db);

    expect(run.code).toBe(0);
    expect(run.json()).toMatchObject({ counts: { sent: 1, push_gone: 2, push_delivered: 1 } });
    expect(push.messagesOf(alive)).toHaveLength(1);
    expect((await db.knex('push_subscriptions').where({ user_id: user.id })).map((s) => s.id)).toEqual([alive.id]);
    const history = await deliveries(db.knex, n.id);
    expect(
      history
        .filter((d) => d.outcome === 'gone')
        .map((d) => [d.status_code, d.subscription_id])
        .sort(),
    ).toEqual([
      [404, null],
      [410, null],
    ]);
    expect(await notification(db.knex, n.id)).toMatchObject({ status: 'sent' });
  });
});

describe('notifications: 429/503 and 5xx are retried later, only where a delivery is still owed', () => {
  test('429 with Retry-After in seconds: back at now + Retry-After; the retry goes to that subscription only, same Topic', async ({
    db,
  }) => {
    const user = await createUser(db.knex);
    const busy = await subscribe(db.knex, user.id);
    const fine = await subscribe(db.knex, user.id);
    push.script(busy, { status: 429, headers: { 'Retry-After': '120' } });
    const n = await notify(db.knex, { user_id: user.id });

    const first = await send(db);
    const early = await send(db, {}, [], plusMs(now, 119_000).toISOString());
    const later = await send(db, {}, [], plusMs(now, 120_000).toISOString());

    expect(first.code).toBe(0);
    expect(first.json()).toMatchObject({ counts: { retry_scheduled: 1, push_retry: 1, push_delivered: 1 } });
    expect(early.json()).toMatchObject({ processed: 0 });
    expect(later.json()).toMatchObject({ counts: { sent: 1, push_delivered: 1 } });
    expect(push.messagesOf(fine)).toHaveLength(1);
    expect(push.messagesOf(busy).map((m) => m.topic)).toEqual([pushTopic(n.id), pushTopic(n.id)]);
    expect(await notification(db.knex, n.id)).toMatchObject({ status: 'sent', attempts: 2, sent_at: plusMs(now, 120_000) });
    expect((await deliveries(db.knex, n.id)).map((d) => d.outcome).sort()).toEqual(['delivered', 'delivered', 'retry']);
  });

  test('503 with an HTTP-date Retry-After; a Retry-After of days is capped at an hour', async ({ db }) => {
    const user = await createUser(db.knex);
    const a = await subscribe(db.knex, (await createUser(db.knex)).id);
    const b = await subscribe(db.knex, user.id);
    push.script(a, { status: 503, headers: { 'Retry-After': new Date(Date.now() + 300_000).toUTCString() } });
    push.script(b, { status: 429, headers: { 'Retry-After': String(7 * 86_400) } });
    const na = await notify(db.knex, { user_id: (await db.knex('push_subscriptions').where({ id: a.id }).first()).user_id });
    const nb = await notify(db.knex, { user_id: user.id });

    await send(db);

    const delayA = (await notification(db.knex, na.id)).run_after.getTime() - now.getTime();
    expect(delayA).toBeGreaterThan(290_000);
    expect(delayA).toBeLessThanOrEqual(300_000);
    expect(await notification(db.knex, nb.id)).toMatchObject({ status: 'pending', run_after: plusMs(now, 3600_000) });
  });

  test('500 without Retry-After: exponential backoff with jitter, then failed with the error kept, exit 1', async ({ db }) => {
    const user = await createUser(db.knex);
    const broken = await subscribe(db.knex, user.id);
    push.script(broken, ...Array.from({ length: 5 }, () => ({ status: 500 })));
    const n = await notify(db.knex, { user_id: user.id });

    const delays: number[] = [];
    let when = now;
    let last;
    for (let attempt = 1; attempt <= 5; attempt += 1) {
      last = await send(db, {}, [], when.toISOString());
      const row = await notification(db.knex, n.id);
      if (row.status !== 'pending') break;
      delays.push(row.run_after.getTime() - when.getTime());
      when = row.run_after;
    }

    // 30 s, 60 s, 120 s, 240 s ceilings, each between half and all of it.
    expect(delays).toHaveLength(4);
    delays.forEach((delay, i) => {
      expect(delay).toBeGreaterThanOrEqual(15_000 * 2 ** i);
      expect(delay).toBeLessThanOrEqual(30_000 * 2 ** i);
    });
    expect(last!.code).toBe(1);
    expect(last!.json()).toMatchObject({ status: 'failed', failed: 1 });
    expect(await notification(db.knex, n.id)).toMatchObject({ status: 'failed', attempts: 5 });
    expect((await notification(db.knex, n.id)).last_error).toMatch(/gave up after 5 attempts: web: push service answered 500/);
    expect(push.messagesOf(broken)).toHaveLength(5);
    expect(await db.knex('push_subscriptions').where({ id: broken.id }).first()).toMatchObject({ failure_count: 5 });
  });

  test('a hanging push service hits the request deadline and is retried; the run does not stall', async ({ db }) => {
    const user = await createUser(db.knex);
    const hanging = await subscribe(db.knex, user.id);
    const fine = await subscribe(db.knex, user.id);
    push.script(hanging, 'hang');
    const n = await notify(db.knex, { user_id: user.id });

    const started = Date.now();
    const run = await send(db, {}, ['--request-timeout', '1']);

    expect(Date.now() - started).toBeLessThan(5000);
    expect(run.json()).toMatchObject({ counts: { retry_scheduled: 1, push_retry: 1, push_delivered: 1 } });
    expect(push.messagesOf(fine)).toHaveLength(1);
    expect((await notification(db.knex, n.id)).last_error).toMatch(/web: .*(timeout|aborted)/i);
  });
});

describe('notifications: 400/401/403 are configuration problems: not retried, loud, exit 1', () => {
  test.for([400, 401, 403])('%i fails the notification at once and the run exits 1', async (status, { db }) => {
    const user = await createUser(db.knex);
    const sub = await subscribe(db.knex, user.id);
    push.script(sub, { status });
    const n = await notify(db.knex, { user_id: user.id });

    const run = await send(db);
    const rerun = await send(db, {}, [], plusMs(now, 86_400_000).toISOString());

    expect(run.code).toBe(1);
    expect(run.json()).toMatchObject({ status: 'failed', failed: 1 });
    expect(run.logs().some((l) => l.level === 50 && String(l.msg).includes(`push service answered ${status}`))).toBe(true);
    expect(await notification(db.knex, n.id)).toMatchObject({ status: 'failed' });
    expect(rerun.json()).toMatchObject({ processed: 0 });
    expect(push.messagesOf(sub)).toHaveLength(1);
  });

  test('the VAPID identity the push service does not know is rejected there (401), and says so', async ({ db }) => {
    const user = await createUser(db.knex);
    await subscribe(db.knex, user.id);
    await notify(db.knex, { user_id: user.id });
    const stranger = webpush.generateVAPIDKeys();

    const run = await send(db, { VAPID_PUBLIC_KEY: stranger.publicKey, VAPID_PRIVATE_KEY: stranger.privateKey });

    expect(run.code).toBe(1);
    expect(push.rejected).toEqual([expect.objectContaining({ reason: 'k is not the expected VAPID public key' })]);
  });

  test('malformed VAPID keys are a configuration error (exit 78) before anything is claimed', async ({ db }) => {
    const user = await createUser(db.knex);
    const n = await notify(db.knex, { user_id: user.id });
    const run = await send(db, { VAPID_PRIVATE_KEY: 'not-a-key' });

    expect(run.code).toBe(78);
    expect(await notification(db.knex, n.id)).toMatchObject({ status: 'pending', attempts: 0 });
  });
});

describe('notifications: the 4 KB limit', () => {
  test('a long body is trimmed before encrypting so the record fits 4096 bytes; title and url kept', async ({ db }) => {
    const user = await createUser(db.knex);
    const sub = await subscribe(db.knex, user.id);
    await notify(db.knex, { user_id: user.id, body: 'é'.repeat(5000), url: '/tasks/long' });

    const run = await send(db);

    expect(run.code).toBe(0);
    expect(push.rejected).toEqual([]);
    const [message] = push.messagesOf(sub);
    expect(message.bytes).toBeLessThanOrEqual(4096);
    expect(message.bytes).toBeGreaterThan(4000);
    expect(message.payload).toMatchObject({ title: 'Pay rent', url: '/tasks/long' });
    expect(message.payload.body).toMatch(/^é+…$/);
  });

  test('a 6,000-character url: dropped whole (a cut link leads nowhere), the message fits and is accepted', async ({ db }) => {
    const user = await createUser(db.knex);
    const sub = await subscribe(db.knex, user.id);
    const n = await notify(db.knex, { user_id: user.id, url: `/tasks/${'x'.repeat(6000)}` });

    const run = await send(db);

    expect(run.code).toBe(0);
    expect(push.rejected).toEqual([]);
    const [message] = push.messagesOf(sub);
    expect(message.bytes).toBeLessThanOrEqual(4096);
    expect(message.payload).toMatchObject({ id: n.id, title: 'Pay rent', body: 'Due today', url: null });
    expect(await notification(db.knex, n.id)).toMatchObject({ status: 'sent', last_error: null });
  });

  test('a message that cannot fit at all fails alone with its reason, nothing sent for it; the others go on', async ({ db }) => {
    const user = await createUser(db.knex);
    const sub = await subscribe(db.knex, user.id);
    const huge = await notify(db.knex, { user_id: user.id, source: 's'.repeat(5000) });
    const fine = await notify(db.knex, { user_id: user.id, dedupe_key: 'fine' });

    const run = await send(db);

    expect(run.code).toBe(1);
    expect(run.json()).toMatchObject({ failed: 1, counts: { sent: 1, push_delivered: 1, push_failed: 1 } });
    expect(push.rejected).toEqual([]);
    expect(push.messagesOf(sub).map((m) => m.payload.id)).toEqual([fine.id]);
    expect(await notification(db.knex, huge.id)).toMatchObject({ status: 'failed' });
    expect((await notification(db.knex, huge.id)).last_error).toMatch(/^web: message cannot fit the 4096-byte push limit/);
    expect(await db.knex('push_subscriptions').where({ id: sub.id }).first()).toMatchObject({ quarantined_at: null });
  });

  test('413 from a service with a smaller limit: sent again without the body', async ({ db }) => {
    const user = await createUser(db.knex);
    const sub = await subscribe(db.knex, user.id);
    const n = await notify(db.knex, { user_id: user.id, body: 'x'.repeat(2000) });
    push.maxBytes = 1024;

    const run = await send(db);

    expect(run.code).toBe(0);
    expect(push.rejected).toHaveLength(1);
    expect(push.messagesOf(sub)).toMatchObject([{ payload: { id: n.id, title: 'Pay rent', body: null, url: '/tasks/1' } }]);
    expect(await notification(db.knex, n.id)).toMatchObject({ status: 'sent' });
  });
});

describe('notifications: malformed subscription keys are quarantined without a network call', () => {
  test('bad p256dh or auth: quarantined, never contacted; the good subscription still gets it', async ({ db }) => {
    const user = await createUser(db.knex);
    const good = await subscribe(db.knex, user.id);
    const badKey = await subscribe(db.knex, user.id, { ...push.subscribe(), p256dh: 'BDemoKeyNotReal' });
    const badAuth = await subscribe(db.knex, user.id, { ...push.subscribe(), auth: 'short' });
    const offCurve = await subscribe(db.knex, user.id, {
      ...push.subscribe(),
      p256dh: Buffer.alloc(65, 4).toString('base64url'),
    });
    const n = await notify(db.knex, { user_id: user.id });

    const run = await send(db);
    await notify(db.knex, { user_id: user.id, dedupe_key: 'second' });
    const second = await send(db);

    expect(run.code).toBe(0);
    expect(run.json()).toMatchObject({ counts: { sent: 1, push_delivered: 1, push_quarantined: 3 } });
    expect(second.json()).toMatchObject({ counts: { sent: 1, push_delivered: 1 } });
    expect(push.received.map((m) => m.subscription)).toEqual([good.name, good.name]);
    for (const sub of [badKey, badAuth, offCurve]) {
      expect(await db.knex('push_subscriptions').where({ id: sub.id }).first()).toMatchObject({ quarantined_at: now });
    }
    expect(await notification(db.knex, n.id)).toMatchObject({ status: 'sent' });
  });
});

describe("notifications: keys in standard base64 are accepted (browsers' getKey() through btoa())", () => {
  test('p256dh and auth with +, / and = padding: delivered and decrypted, not quarantined', async ({ db }) => {
    const user = await createUser(db.knex);
    const standard = (text: string) => Buffer.from(text, 'base64url').toString('base64');
    // A key pair whose standard spelling differs from base64url in more than the padding.
    let keys = push.subscribe();
    while (!/[+/]/.test(standard(keys.p256dh)) || !/[+/]/.test(standard(keys.auth))) keys = push.subscribe();
    const sub = await subscribe(db.knex, user.id, { ...keys, p256dh: standard(keys.p256dh), auth: standard(keys.auth) });
    expect(sub.p256dh).toMatch(/=$/);
    expect(sub.auth).toMatch(/==$/);
    const n = await notify(db.knex, { user_id: user.id });

    const run = await send(db);

    expect(run.json()).toMatchObject({ counts: { sent: 1, push_delivered: 1 } });
    expect(push.messagesOf(sub)).toMatchObject([{ payload: { id: n.id, title: 'Pay rent' } }]);
    expect(await db.knex('push_subscriptions').where({ id: sub.id }).first()).toMatchObject({ quarantined_at: null });
  });
});

describe('notifications: chat channel', () => {
  test('posts a Slack-compatible message; push and chat both delivered', async ({ db }) => {
    const user = await createUser(db.knex);
    const sub = await subscribe(db.knex, user.id);
    const n = await notify(db.knex, { user_id: user.id, channels: '{web,chat}', title: 'Deploy <prod>' });

    const run = await send(db, { CHAT_WEBHOOK_URL: chat.url });

    expect(run.code).toBe(0);
    expect(chat.posts).toEqual([{ text: '*Deploy &lt;prod&gt;*\nDue today\n</tasks/1>' }]);
    expect(push.messagesOf(sub)).toHaveLength(1);
    expect((await deliveries(db.knex, n.id)).map((d) => [d.channel, d.outcome]).sort()).toEqual([
      ['chat', 'delivered'],
      ['web', 'delivered'],
    ]);
  });

  test('chat 429 honours Retry-After and never blocks push; the retry posts to chat only', async ({ db }) => {
    const user = await createUser(db.knex);
    const sub = await subscribe(db.knex, user.id);
    const n = await notify(db.knex, { user_id: user.id, channels: '{web,chat}' });
    chat.script({ status: 429, headers: { 'Retry-After': '30' } });

    const first = await send(db, { CHAT_WEBHOOK_URL: chat.url });
    const retry = await send(db, { CHAT_WEBHOOK_URL: chat.url }, [], plusMs(now, 30_000).toISOString());

    expect(first.json()).toMatchObject({ counts: { retry_scheduled: 1, chat_retry: 1, push_delivered: 1 } });
    expect(retry.json()).toMatchObject({ counts: { sent: 1, chat_delivered: 1 } });
    expect(push.messagesOf(sub)).toHaveLength(1);
    expect(chat.posts).toHaveLength(1);
    expect(await notification(db.knex, n.id)).toMatchObject({ status: 'sent', attempts: 2 });
  });

  test('a webhook answering 404/410 is reported dead once, posts stop, the run exits 1; push unaffected', async ({ db }) => {
    const user = await createUser(db.knex);
    const sub = await subscribe(db.knex, user.id);
    const rows = await Promise.all(
      [1, 2, 3].map((i) => notify(db.knex, { user_id: user.id, channels: '{web,chat}', dedupe_key: `c${i}` })),
    );
    chat.script({ status: 410 });

    const run = await send(db, { CHAT_WEBHOOK_URL: chat.url }, ['--concurrency', '1']);

    expect(run.code).toBe(1);
    expect(chat.requests).toBe(1);
    expect(run.json()).toMatchObject({ counts: { sent: 3, chat_gone: 3, push_delivered: 3 } });
    expect(run.stderr).toContain('CHAT_WEBHOOK_URL is dead');
    expect(push.messagesOf(sub)).toHaveLength(3);
    for (const row of rows) expect(await notification(db.knex, row.id)).toMatchObject({ status: 'sent' });
  });

  test('chat off: the chat channel is left out and says so', async ({ db }) => {
    const user = await createUser(db.knex);
    const n = await notify(db.knex, { user_id: user.id, channels: '{chat}' });
    const run = await send(db);

    expect(run.stderr).toContain('chat is off (CHAT_WEBHOOK_URL unset)');
    expect(await notification(db.knex, n.id)).toMatchObject({ status: 'sent' });
  });
});

describe('notifications: leases and fencing', () => {
  test('a run whose lease expired and was claimed again cannot overwrite the newer attempt', async ({ db }) => {
    const user = await createUser(db.knex);
    const sub = await subscribe(db.knex, user.id);
    const n = await notify(db.knex, { user_id: user.id });
    push.delayMs = 1500;

    const slow = send(db);
    while (push.received.length === 0) await new Promise((resolve) => setTimeout(resolve, 20));
    // Meanwhile the lease ran out and another run claimed it (attempt 2).
    await db
      .knex('notifications')
      .where({ id: n.id })
      .update({ attempts: 2, lease_token: db.knex.raw('gen_random_uuid()'), locked_until: plusMs(now, 600_000) });
    const run = await slow;

    expect(run.json()).toMatchObject({ processed: 0, counts: { lease_lost: 1 } });
    expect(await notification(db.knex, n.id)).toMatchObject({ status: 'processing', attempts: 2 });
    expect(await deliveries(db.knex, n.id)).toEqual([]);
    expect(push.messagesOf(sub)).toHaveLength(1);
  });

  test('a claim whose lease expired comes back to the next run; one still leased does not', async ({ db }) => {
    const user = await createUser(db.knex);
    const sub = await subscribe(db.knex, user.id);
    const stale = await notify(db.knex, { user_id: user.id, status: 'processing', attempts: 1, locked_until: now });
    await notify(db.knex, { user_id: user.id, status: 'processing', attempts: 1, locked_until: plusMs(now, 1) });

    const run = await send(db);

    expect(run.json()).toMatchObject({ processed: 1, ids: { sent: [stale.id] } });
    expect(push.messagesOf(sub)).toHaveLength(1);
    expect(await notification(db.knex, stale.id)).toMatchObject({ status: 'sent', attempts: 2 });
  });

  test('--dry-run claims and reports, sends and writes nothing', async ({ db }) => {
    const user = await createUser(db.knex);
    await subscribe(db.knex, user.id);
    const n = await notify(db.knex, { user_id: user.id });
    const run = await send(db, {}, ['--dry-run']);

    expect(run.json()).toMatchObject({ dry_run: true, processed: 1, ids: { would_deliver: [n.id] } });
    expect(push.received).toHaveLength(0);
    expect(await notification(db.knex, n.id)).toMatchObject({ status: 'pending', attempts: 0 });
  });

  test('bounded: never more open connections to a push service than --connections-per-origin', async ({ db }) => {
    const user = await createUser(db.knex);
    for (let i = 0; i < 40; i += 1) await subscribe(db.knex, user.id);
    await notify(db.knex, { user_id: user.id });
    push.delayMs = 30;

    const run = await send(db, {}, ['--connections-per-origin', '3']);

    expect(run.json()).toMatchObject({ counts: { push_delivered: 40 } });
    expect(push.maxOpenConnections).toBeLessThanOrEqual(3);
    expect(push.maxOpenConnections).toBeGreaterThan(1);
  });
});

describe('vapid-keys', () => {
  test('prints a fresh, usable key pair as environment lines', async () => {
    const run = await cli(['vapid-keys'], {});
    const lines = Object.fromEntries(
      run.stdout
        .trim()
        .split('\n')
        .map((l) => l.split('=', 2) as [string, string]),
    );

    expect(run.code).toBe(0);
    expect(Buffer.from(lines.VAPID_PUBLIC_KEY, 'base64url')).toHaveLength(65);
    expect(Buffer.from(lines.VAPID_PRIVATE_KEY, 'base64url')).toHaveLength(32);
    expect(() =>
      webpush.getVapidHeaders(
        'https://push.example',
        'mailto:a@b.c',
        lines.VAPID_PUBLIC_KEY,
        lines.VAPID_PRIVATE_KEY,
        'aes128gcm',
      ),
    ).not.toThrow();
  });
});
