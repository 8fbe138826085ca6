// Pure unit tests: nothing here opens a connection. The addresses other than loopback are
// classified only here, never handed to anything that could connect to them.
import crypto from 'node:crypto';
import { createRequire } from 'node:module';
import { describe, expect, test } from 'vitest';
import { listsAddress, listsName, nonPublicRange, parseHostList } from '../src/core/addresses.js';
import { EndpointPolicy } from '../src/jobs/notifications/endpoints.js';
import { Encryptor, encryptHere, NOT_ON_CURVE } from '../src/jobs/notifications/encryptor.js';
import { MAX_PLAINTEXT_BYTES, pushPayload } from '../src/jobs/notifications/payload.js';
import type { ClaimedNotification } from '../src/jobs/notifications/types.js';

describe('addresses: only public unicast addresses are public (IANA special-purpose registries, RFC 6890)', () => {
  test.for([
    ['127.0.0.1', 'loopback'],
    ['127.255.0.2', 'loopback'],
    ['10.0.0.1', 'private'],
    ['172.16.5.4', 'private'],
    ['192.168.1.1', 'private'],
    ['169.254.169.254', 'link-local'],
    ['100.64.0.1', 'carrier-grade NAT (100.64.0.0/10)'],
    ['100.127.255.254', 'carrier-grade NAT (100.64.0.0/10)'],
    ['224.0.0.1', 'multicast'],
    ['0.0.0.0', 'unspecified'],
    ['255.255.255.255', 'broadcast'],
    ['240.0.0.1', 'reserved'],
    ['192.0.2.10', 'reserved'],
    ['::1', 'loopback'],
    ['::', 'unspecified'],
    ['fe80::1', 'link-local'],
    ['fc00::1', 'unique-local'],
    ['fd12:3456::1', 'unique-local'],
    ['ff02::1', 'multicast'],
    ['2001:db8::1', 'reserved'],
    ['::ffff:10.0.0.1', 'private'],
    ['::ffff:127.0.0.1', 'loopback'],
    ['[::ffff:169.254.169.254]', 'link-local'],
    ['64:ff9b::a00:1', 'private'], // NAT64 of 10.0.0.1
    ['64:ff9b::7f00:1', 'loopback'], // NAT64 of 127.0.0.1
    ['2002:a00:1::', '6to4'],
  ])('%s is %s', ([address, range]) => {
    expect(nonPublicRange(address)).toBe(range);
  });

  test.for(['1.1.1.1', '100.128.0.1', '172.32.0.1', '2606:4700:4700::1111', '::ffff:1.1.1.1', '64:ff9b::101:101'])(
    '%s is public',
    (address) => {
      expect(nonPublicRange(address)).toBeUndefined();
    },
  );
});

describe('PUSH_ALLOWED_HOSTS: host names, addresses and CIDR ranges', () => {
  test('parses each kind; matches names without case or trailing dot, addresses by range, mapped IPv4 as IPv4', () => {
    const { list, malformed } = parseHostList(' Push.Internal. , 10.1.2.3, fd00::/8, 192.168.0.0/16 ,, ::ffff:172.16.0.0/108 ');

    expect(malformed).toEqual([]);
    expect(list.names).toEqual(['push.internal']);
    expect(listsName(list, 'PUSH.internal')).toBe(true);
    expect(listsName(list, 'push.internal.evil')).toBe(false);
    expect(listsAddress(list, '10.1.2.3')).toBe(true);
    expect(listsAddress(list, '10.1.2.4')).toBe(false);
    expect(listsAddress(list, '::ffff:10.1.2.3')).toBe(true);
    expect(listsAddress(list, 'fd00:1::5')).toBe(true);
    expect(listsAddress(list, 'fc00::1')).toBe(false);
    expect(listsAddress(list, '192.168.44.1')).toBe(true);
    expect(listsAddress(list, '172.16.9.9')).toBe(true);
    expect(listsAddress(list, '172.32.0.1')).toBe(false);
  });

  test('entries that are neither are reported, one by one', () => {
    expect(parseHostList('10.0.0.0/33, 127.1, push_service, 10.0.0.0/8/8, a..b, fd00::/129, ok.example').malformed).toEqual([
      '10.0.0.0/33',
      '127.1',
      'push_service',
      '10.0.0.0/8/8',
      'a..b',
      'fd00::/129',
    ]);
  });
});

describe('push endpoints: https only, to public addresses unless allowed', () => {
  const none = new EndpointPolicy(parseHostList('').list);

  test.for([
    ['http://push.example/x', 'endpoint is not an https URL'],
    ['not a url', 'endpoint is not a URL'],
    ['https://10.0.0.1/x', 'endpoint refused: 10.0.0.1 is a private address'],
    ['https://169.254.169.254/latest', 'endpoint refused: 169.254.169.254 is a link-local address'],
    // IPv4-mapped, judged as the IPv4 address it maps (the URL parser writes it in hex).
    ['https://[::ffff:10.0.0.1]/x', 'endpoint refused: ::ffff:a00:1 is a private address'],
    ['https://[fc00::1]:8443/x', 'endpoint refused: fc00::1 is a unique-local address'],
    ['https://100.64.0.1/x', 'endpoint refused: 100.64.0.1 is a carrier-grade NAT (100.64.0.0/10) address'],
    // The URL parser reads other spellings of an IPv4 address as that address (WHATWG URL §3.5).
    ['https://2130706433/x', 'endpoint refused: 127.0.0.1 is a loopback address'],
    ['https://0x7f.1/x', 'endpoint refused: 127.0.0.1 is a loopback address'],
  ])('%s: %s', ([endpoint, reason]) => {
    expect(none.refusal(endpoint)).toBe(reason);
  });

  test('a public address, or a name (judged on the address it resolves to, when connecting), may be tried', () => {
    expect(none.refusal('https://1.1.1.1/push/x')).toBeUndefined();
    expect(none.refusal('https://fcm.googleapis.com/fcm/send/abc')).toBeUndefined();
  });

  test('the allow-list lets listed addresses, ranges and names through, and nothing else', () => {
    const allowed = new EndpointPolicy(parseHostList('10.0.0.0/8, push.internal').list);
    expect(allowed.refusal('https://10.20.30.40/x')).toBeUndefined();
    expect(allowed.refusal('https://push.internal/x')).toBeUndefined();
    expect(allowed.refusal('https://192.168.0.1/x')).toBe('endpoint refused: 192.168.0.1 is a private address');
  });
});

describe('push payload: every field counts toward 4096 bytes; body, then url, then title give way', () => {
  const notification = (fields: Partial<ClaimedNotification>) =>
    ({
      id: '0b8a4a9e-6a3e-4d57-9a5c-3f0b1d7c2e11',
      title: 'Pay rent',
      body: 'Due today',
      url: '/tasks/1',
      source: 'reminder',
      ...fields,
    }) as ClaimedNotification;
  const decoded = (n: ClaimedNotification) => {
    const { bytes } = pushPayload(n);
    expect(bytes!.length).toBeLessThanOrEqual(MAX_PLAINTEXT_BYTES);
    return JSON.parse(bytes!.toString('utf8'));
  };

  test('a long body is trimmed with an ellipsis, the rest kept', () => {
    const payload = decoded(notification({ body: 'é'.repeat(5000) }));
    expect(payload).toMatchObject({ title: 'Pay rent', url: '/tasks/1', source: 'reminder' });
    expect(payload.body).toMatch(/^é+…$/);
  });

  test('a url that cannot fit is dropped whole and the body keeps its room', () => {
    const payload = decoded(notification({ url: `/tasks/${'x'.repeat(6000)}` }));
    expect(payload).toMatchObject({ title: 'Pay rent', body: 'Due today', url: null });
  });

  test('a long url is kept whole when trimming the body makes room', () => {
    const url = `/tasks/${'u'.repeat(3000)}`;
    const payload = decoded(notification({ url, body: 'b'.repeat(3000) }));
    expect(payload.url).toBe(url);
    expect(payload.body).toMatch(/^b+…$/);
  });

  test('the title is cut last, when the other fields leave no room for it', () => {
    const payload = decoded(notification({ title: '\u0001'.repeat(500), source: 's'.repeat(2000), url: '/x'.repeat(1000) }));
    expect(payload).toMatchObject({ body: null, url: null, source: 's'.repeat(2000) });
    expect(payload.title).toMatch(/^\u0001+…$/);
  });

  test('a message that cannot fit at all says why', () => {
    expect(pushPayload(notification({ source: 's'.repeat(5000) }))).toEqual({
      problem: expect.stringMatching(/^message cannot fit the 4096-byte push limit/),
    });
  });
});

// http_ece (web-push's own dependency) decrypts aes128gcm as a browser does.
const ece = createRequire(import.meta.url)('http_ece') as {
  decrypt(buffer: Buffer, params: { version: string; privateKey: crypto.ECDH; authSecret: string }): Buffer;
};

/** A browser's side of a subscription: its key pair and auth secret. */
function browser() {
  const ecdh = crypto.createECDH('prime256v1');
  const p256dh = ecdh.generateKeys();
  const auth = crypto.randomBytes(16);
  const decrypt = (message: Buffer) =>
    ece.decrypt(message, { version: 'aes128gcm', privateKey: ecdh, authSecret: auth.toString('base64url') });
  return { p256dh, auth, decrypt };
}

describe('push encryption (RFC 8291 aes128gcm): what a browser decrypts, a new key pair and salt per message', () => {
  const payload = Buffer.from(JSON.stringify({ id: 'n1', title: 'Pay rent', body: 'Due today', url: null, source: 'reminder' }));

  test('on the worker and on the calling thread: decrypted to the payload; header = salt, 4096, 65, a fresh key', async () => {
    const subscribers = [browser(), browser(), browser()];
    const encryptor = new Encryptor();
    try {
      const onWorker = await encryptor.encrypt(subscribers.map(({ p256dh, auth }) => ({ p256dh, auth, payload })));
      const here = subscribers.map(({ p256dh, auth }) => encryptHere({ p256dh, auth, payload }));
      const messages = [...onWorker, ...here] as Buffer[];
      messages.forEach((message, i) => expect(subscribers[i % 3].decrypt(message)).toEqual(payload));
      for (const message of messages) {
        expect(message.length).toBe(86 + payload.length + 1 + 16);
        expect(message.readUInt32BE(16)).toBe(4096);
        expect(message[20]).toBe(65);
      }
      expect(new Set(messages.map((m) => m.subarray(0, 16).toString('hex'))).size).toBe(6);
      expect(new Set(messages.map((m) => m.subarray(21, 86).toString('hex'))).size).toBe(6);
    } finally {
      await encryptor.close();
    }
  });

  test('a key that is not a point on P-256: the quarantine reason, the other messages of the batch still encrypted', async () => {
    const good = browser();
    const offCurve = { p256dh: Buffer.alloc(65, 4), auth: crypto.randomBytes(16), payload };
    const encryptor = new Encryptor();
    try {
      const [refused, encrypted] = await encryptor.encrypt([offCurve, { p256dh: good.p256dh, auth: good.auth, payload }]);
      expect(refused).toBe(NOT_ON_CURVE);
      expect(good.decrypt(encrypted as Buffer)).toEqual(payload);
      expect(encryptHere(offCurve)).toBe(NOT_ON_CURVE);
    } finally {
      await encryptor.close();
    }
  });
});
