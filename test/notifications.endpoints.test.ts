// Refusals are proved on loopback only (127.0.0.1, 127.0.0.2, ::1, localhost): every other
// range is classified in notifications.units.test.ts, which opens no connection.
import net from 'node:net';
import type { Knex } from 'knex';
import webpush from 'web-push';
import { afterEach, beforeEach, describe, expect } from 'vitest';
import { cli } from './support/cli.js';
import { test } from './support/db.js';
import { at, createUser } from './support/factories.js';
import { PushService, type TestSubscription } from './support/pushService.js';

const NOW = '2025-06-01T12:00:00.000Z';
const vapid = webpush.generateVAPIDKeys();

/** Plain TCP listeners on one port of several loopback addresses, counting the connections they accept. */
class Trap {
  connections = 0;
  private constructor(
    private readonly servers: net.Server[],
    readonly port: number,
  ) {}

  static async on(hosts: string[]): Promise<Trap> {
    const servers: net.Server[] = [];
    let port = 0;
    const trap = () => new Trap(servers, port);
    let counted: Trap | undefined;
    for (const host of hosts) {
      const server = net.createServer((socket) => {
        counted!.connections += 1;
        socket.destroy();
      });
      await new Promise<void>((resolve, reject) => server.once('error', reject).listen(port, host, resolve));
      port = (server.address() as net.AddressInfo).port;
      servers.push(server);
    }
    counted = trap();
    return counted;
  }

  close = () => Promise.all(this.servers.map((server) => new Promise((resolve) => server.close(resolve))));
}

let push: PushService;
beforeEach(async () => {
  push = await PushService.start(vapid.publicKey);
});
afterEach(() => push.close());

/** The identity and the push service's CA, but no PUSH_ALLOWED_HOSTS unless given. */
const env = (db: { url: string }, extra: Record<string, string> = {}) => ({
  DATABASE_URL: db.url,
  VAPID_PUBLIC_KEY: vapid.publicKey,
  VAPID_PRIVATE_KEY: vapid.privateKey,
  VAPID_SUBJECT: 'mailto:ops@example.test',
  NODE_EXTRA_CA_CERTS: push.caFile,
  ...extra,
});
const send = (db: { url: string }, extra: Record<string, string> = {}) =>
  cli(['notifications', '--now', NOW, '--json'], env(db, extra));

/** A subscription of `userId` with the push service's keys, at `endpoint` (default: on the push service). */
async function subscribe(knex: Knex, userId: string, endpoint?: (s: TestSubscription) => string) {
  const subscription = push.subscribe();
  const [{ id }] = await knex('push_subscriptions')
    .insert({
      user_id: userId,
      endpoint: endpoint?.(subscription) ?? subscription.endpoint,
      p256dh: subscription.p256dh,
      auth: subscription.auth,
    })
    .returning('id');
  return { ...subscription, id };
}

const notify = async (knex: Knex, userId: string) =>
  (
    await knex('notifications')
      .insert({ user_id: userId, title: 'Pay rent', body: 'Due today', url: '/tasks/1', source: 'reminder', run_after: at(NOW) })
      .returning('id')
  )[0].id as string;

const subscriptionRow = (knex: Knex, id: string) => knex('push_subscriptions').where({ id }).first();

describe('push endpoints: loopback is refused without any connection when PUSH_ALLOWED_HOSTS is unset', () => {
  test('127.0.0.1, 127.0.0.2, [::1] and localhost: quarantined with the reason, counted, never connected to', async ({ db }) => {
    const trap = await Trap.on(['127.0.0.2', '::1']);
    try {
      const user = await createUser(db.knex);
      const port = new URL(push.origin).port;
      const service = await subscribe(db.knex, user.id);
      const second = await subscribe(db.knex, user.id, (s) => `https://127.0.0.2:${trap.port}/push/${s.name}`);
      const ipv6 = await subscribe(db.knex, user.id, (s) => `https://[::1]:${trap.port}/push/${s.name}`);
      const byName = await subscribe(db.knex, user.id, (s) => `https://localhost:${port}/push/${s.name}`);
      const n = await notify(db.knex, user.id);

      const run = await send(db);

      expect(run.code).toBe(0);
      expect(run.json()).toMatchObject({ counts: { sent: 1, push_quarantined: 4 } });
      expect(push.connections).toBe(0);
      expect(trap.connections).toBe(0);
      const reasons = {
        [service.id]: 'endpoint refused: 127.0.0.1 is a loopback address',
        [second.id]: 'endpoint refused: 127.0.0.2 is a loopback address',
        [ipv6.id]: 'endpoint refused: ::1 is a loopback address',
      };
      for (const [id, reason] of Object.entries(reasons))
        expect(await subscriptionRow(db.knex, id)).toMatchObject({ quarantined_at: at(NOW), quarantine_reason: reason });
      // A name is judged on the address it resolves to, at the connection that would use it.
      expect((await subscriptionRow(db.knex, byName.id)).quarantine_reason).toMatch(
        /^endpoint refused: localhost resolves to (127\.0\.0\.1|::1), a loopback address$/,
      );
      const history = await db.knex('notification_deliveries').where({ notification_id: n });
      expect(history).toHaveLength(4);
      for (const d of history)
        expect(d).toMatchObject({ outcome: 'failed', status_code: null, error: expect.stringMatching(/^endpoint refused: /) });
      expect(run.stderr).toContain('quarantined 4 push subscription(s)');
    } finally {
      await trap.close();
    }
  });
});

describe('push endpoints: PUSH_ALLOWED_HOSTS lets a self-hosted push service through, by address, range or name', () => {
  test.for([
    ['127.0.0.1', 'address'],
    ['127.0.0.0/8', 'range'],
    ['::ffff:127.0.0.1', 'IPv4-mapped address'],
  ])('%s (%s): delivered', async ([allowed], { db }) => {
    const user = await createUser(db.knex);
    const sub = await subscribe(db.knex, user.id);
    await notify(db.knex, user.id);

    const run = await send(db, { PUSH_ALLOWED_HOSTS: allowed });

    expect(run.json()).toMatchObject({ counts: { sent: 1, push_delivered: 1 } });
    expect(push.messagesOf(sub)).toHaveLength(1);
  });

  test('a listed name is trusted whatever it resolves to; the same service by address is still refused', async ({ db }) => {
    const user = await createUser(db.knex);
    const port = new URL(push.origin).port;
    const byName = await subscribe(db.knex, user.id, (s) => `https://localhost:${port}/push/${s.name}`);
    const byAddress = await subscribe(db.knex, user.id);
    await notify(db.knex, user.id);

    const run = await send(db, { PUSH_ALLOWED_HOSTS: 'localhost' });

    expect(run.json()).toMatchObject({ counts: { sent: 1, push_delivered: 1, push_quarantined: 1 } });
    expect(push.messagesOf(byName)).toHaveLength(1);
    expect(push.messagesOf(byAddress)).toHaveLength(0);
  });

  test('a malformed entry is a configuration error naming the variable (exit 78), before anything is claimed', async ({ db }) => {
    const user = await createUser(db.knex);
    const n = await notify(db.knex, user.id);

    const run = await send(db, { PUSH_ALLOWED_HOSTS: '127.0.0.1, 10.0.0.0/33' });

    expect(run.code).toBe(78);
    expect(run.stderr).toContain('PUSH_ALLOWED_HOSTS');
    expect(run.stderr).toContain('10.0.0.0/33');
    expect(run.stderr).not.toMatch(/^\s+at /m);
    expect(await db.knex('notifications').where({ id: n }).first()).toMatchObject({ status: 'pending', attempts: 0 });
  });
});

describe('push answers: the status code and a short reason are kept, never the body', () => {
  test('an HTML page is reduced to the status text; a JSON error to its reason, on one line, at most 200 characters', async ({
    db,
  }) => {
    const user = await createUser(db.knex);
    const html = await subscribe(db.knex, user.id);
    const autopush = await subscribe(db.knex, user.id);
    const apple = await subscribe(db.knex, user.id);
    const huge = await subscribe(db.knex, user.id);
    push.script(html, { status: 400, headers: { 'Content-Type': 'text/html' }, body: '<h1>admin console</h1> secret-token-123' });
    push.script(autopush, {
      status: 410,
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ code: 410, errno: 103, error: 'Gone', message: 'Request did not validate\nsubscription expired' }),
    });
    push.script(apple, {
      status: 429,
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ reason: 'r'.repeat(300) }),
    });
    push.script(huge, {
      status: 500,
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ message: 'secret-token-456', padding: 'x'.repeat(5000) }),
    });
    const n = await notify(db.knex, user.id);

    const run = await send(db, { PUSH_ALLOWED_HOSTS: '127.0.0.1' });

    const errors = Object.fromEntries(
      (await db.knex('notification_deliveries').where({ notification_id: n })).map((d) => [d.status_code, d.error]),
    );
    expect(errors).toEqual({
      400: 'push service answered 400 (Bad Request)',
      410: 'push service answered 410 (Request did not validate subscription expired)',
      429: `push service answered 429 (${'r'.repeat(200)})`,
      500: 'push service answered 500 (Internal Server Error)',
    });
    expect(run.stderr).not.toContain('secret-token');
    expect(JSON.stringify(await db.knex('notifications').where({ id: n }).first())).not.toContain('secret-token');
  });
});

describe('push errors are stored exactly as the service gave them, quotes and backslashes included', () => {
  test('a reason with \' " \\ and a non-ASCII character: the delivery and the notification keep it byte for byte', async ({
    db,
  }) => {
    const user = await createUser(db.knex);
    const sub = await subscribe(db.knex, user.id);
    const reason = `it's "bad": C:\\push\\' ; DROP TABLE users; -- é`;
    push.script(sub, { status: 400, headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ reason }) });
    const n = await notify(db.knex, user.id);

    await send(db, { PUSH_ALLOWED_HOSTS: '127.0.0.1' });

    const [delivery] = await db.knex('notification_deliveries').where({ notification_id: n });
    expect(delivery.error).toBe(`push service answered 400 (${reason})`);
    expect((await db.knex('notifications').where({ id: n }).first()).last_error).toContain(reason);
    expect(await db.knex('users').where({ id: user.id }).first()).toBeDefined();
  });
});
