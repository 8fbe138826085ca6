import fs from 'node:fs';
import http from 'node:http';
import tls from 'node:tls';
import pLimit, { type LimitFunction } from 'p-limit';
import { Agent } from 'undici';
import type { HostList } from '../../core/addresses.js';
import { describeError } from '../../core/errors.js';
import { EndpointPolicy, isEndpointRefused } from './endpoints.js';
import { Encryptor, encryptHere, NOT_ON_CURVE, type EncryptItem } from './encryptor.js';
import { pushPayload } from './payload.js';
import { parseRetryAfter, pushPolicy, pushTopic } from './policy.js';
import type { ClaimedNotification, Delivery, Subscription } from './types.js';
import type { VapidSigner } from './vapid.js';

export interface PushSenderOptions {
  /** Open connections (and requests in flight) per push-service origin. */
  connectionsPerOrigin: number;
  /** Deadline of one request, connection included: a hanging push service cannot stall the run. */
  requestTimeoutMs: number;
  /** Extra CA certificates (PEM file) to trust besides the system's, e.g. a private push service. */
  extraCaCertsFile?: string;
  /** Hosts push endpoints may lead to although they are not public (PUSH_ALLOWED_HOSTS). */
  allowedHosts: HostList;
}

interface Response {
  status: number;
  retryAfter?: string;
  /** A short reason from the service's JSON error, else the status's standard text. */
  reason: string;
}

/** RFC 8291 keys, decoded from whichever base64 alphabet the subscription was stored in. */
interface Keys {
  p256dh: Buffer;
  auth: Buffer;
}

/** What is read of an error answer's body at most: a push service's JSON error, never a page of anything. */
const MAX_ERROR_BODY_BYTES = 512;
/** What is kept of the reason in that JSON error. */
const MAX_REASON_CHARS = 200;

/**
 * Web Push (RFC 8030/8291/8292) over kept-alive connections: the payload encrypted (RFC 8291
 * aes128gcm, on a worker thread batch by batch), the cached VAPID header of the endpoint's origin, TTL / Urgency / Topic from the
 * notification, at most `connectionsPerOrigin` requests in flight per origin. Endpoints are
 * user input: only those `EndpointPolicy` permits are connected to; the others, and malformed
 * keys, quarantine their subscription without any connection.
 */
export class PushSender {
  private readonly agent: Agent;
  private readonly endpoints: EndpointPolicy;
  private readonly perOrigin = new Map<string, LimitFunction>();
  private readonly encryptor = new Encryptor();
  /** What `prepare` made, by notification and subscription: where and what to post, or why the keys are unusable. */
  private readonly prepared = new Map<string, { url: URL; body: Buffer } | string>();

  constructor(
    private readonly vapid: VapidSigner,
    private readonly options: PushSenderOptions,
    private readonly now: Date,
  ) {
    const extraCa = options.extraCaCertsFile ? fs.readFileSync(options.extraCaCertsFile, 'utf8') : undefined;
    this.endpoints = new EndpointPolicy(options.allowedHosts);
    // undici rather than node:https: a third less client CPU per request on the local push
    // service (41 against 57 us). `connections` is per origin (one pool per origin). One secure
    // context for every connection: parsing the CA list per connection would cost more than the
    // handshake. Every new connection resolves its host through the endpoint policy's lookup.
    this.agent = new Agent({
      connections: options.connectionsPerOrigin,
      connect: {
        lookup: this.endpoints.lookup,
        ...(extraCa && { secureContext: tls.createSecureContext({ ca: [...tls.rootCertificates, extraCa] }) }),
      },
    });
  }

  /**
   * Checks each subscription's endpoint and keys and encrypts the batch's payloads on the worker
   * thread, ahead of `send`: what `send` then needs (URL, body, or why the subscription is
   * unusable) is computed once per message.
   */
  async prepare(batch: readonly ClaimedNotification[]): Promise<void> {
    const owed: { key: string; url: URL; item: EncryptItem }[] = [];
    for (const notification of batch) {
      const { bytes } = pushPayload(notification);
      if (!bytes) continue;
      for (const subscription of notification.subscriptions) {
        const usable = this.usable(subscription);
        if ('url' in usable)
          owed.push({ key: preparedKey(notification, subscription), url: usable.url, item: { ...usable.keys, payload: bytes } });
      }
    }
    const results = await this.encryptor.encrypt(owed.map(({ item }) => item));
    owed.forEach(({ key, url }, i) => {
      const body = results[i];
      this.prepared.set(key, typeof body === 'string' ? body : { url, body });
    });
  }

  async send(subscription: Subscription, notification: ClaimedNotification): Promise<Delivery> {
    const delivery = (fields: Omit<Delivery, 'channel' | 'subscription_id'>): Delivery => ({
      channel: 'web',
      subscription_id: subscription.id,
      ...fields,
    });
    const key = preparedKey(notification, subscription);
    let ready = this.prepared.get(key);
    this.prepared.delete(key);
    // Not prepared: a refused endpoint, malformed keys, or a message that cannot fit.
    if (ready === undefined) {
      const usable = this.usable(subscription);
      if (!('url' in usable)) return delivery({ status_code: null, outcome: 'failed', error: usable.refused, quarantine: true });
      const message = pushPayload(notification);
      if (!message.bytes) return delivery({ status_code: null, outcome: 'failed', error: message.problem, unsendable: true });
      const body = encryptHere({ ...usable.keys, payload: message.bytes });
      ready = typeof body === 'string' ? body : { url: usable.url, body };
    }
    if (typeof ready === 'string') return delivery({ status_code: null, outcome: 'failed', error: ready, quarantine: true });
    const { url } = ready;
    let limit = this.perOrigin.get(url.origin);
    if (!limit) this.perOrigin.set(url.origin, (limit = pLimit(this.options.connectionsPerOrigin)));
    try {
      let response = await limit(() => this.post(url, notification, ready.body));
      // The service's own limit is below 4 KB: send it again without the body (title and url kept).
      if (response.status === 413) {
        const smaller = pushPayload(notification, { withBody: false }).bytes;
        const keys = readKeys(subscription);
        const again = smaller && typeof keys !== 'string' && encryptHere({ ...keys, payload: smaller });
        if (again instanceof Buffer) response = await limit(() => this.post(url, notification, again));
      }
      return delivery(classify(response));
    } catch (err) {
      if (isEndpointRefused(err)) return delivery({ status_code: null, outcome: 'failed', error: err.message, quarantine: true });
      return delivery({ status_code: null, outcome: 'retry', error: describeError(err) });
    }
  }

  async close(): Promise<void> {
    await this.agent.destroy();
    await this.encryptor.close();
  }

  /** The endpoint's URL and the subscription's keys when it may be sent to; else why not (a refused endpoint, malformed keys). */
  private usable(subscription: Subscription): { url: URL; keys: Keys } | { refused: string } {
    const url = this.endpoints.target(subscription.endpoint);
    if (typeof url === 'string') return { refused: url };
    const keys = readKeys(subscription);
    return typeof keys === 'string' ? { refused: keys } : { url, keys };
  }

  private async post(url: URL, notification: ClaimedNotification, cipherText: Buffer): Promise<Response> {
    const { ttlSeconds, urgency } = pushPolicy(notification, this.now);
    const controller = new AbortController();
    // The whole request's deadline, connecting included (a socket timeout would only catch silence).
    const deadline = setTimeout(
      () => controller.abort(new Error(`no answer within ${this.options.requestTimeoutMs / 1000}s (request timeout)`)),
      this.options.requestTimeoutMs,
    );
    try {
      const response = await this.agent.request({
        origin: url.origin,
        path: url.pathname + url.search,
        method: 'POST',
        headers: {
          Authorization: this.vapid.authorization(url.origin),
          TTL: String(ttlSeconds),
          Urgency: urgency,
          Topic: pushTopic(notification.id),
          'Content-Type': 'application/octet-stream',
          'Content-Encoding': 'aes128gcm',
          'Content-Length': String(cipherText.length),
        },
        body: cipherText,
        signal: controller.signal,
      });
      const status = response.statusCode;
      const header = (name: string) => [response.headers[name]].flat()[0];
      if (status >= 200 && status < 300) {
        await response.body.dump();
        return { status, reason: http.STATUS_CODES[status] ?? 'success' };
      }
      const chunks: Buffer[] = [];
      let bytes = 0;
      for await (const chunk of response.body as AsyncIterable<Buffer>) {
        bytes += chunk.length;
        // More than an error object: not read further (leaving the loop destroys the body and its connection).
        if (bytes > MAX_ERROR_BODY_BYTES) break;
        chunks.push(chunk);
      }
      const body = Buffer.concat(chunks).toString('utf8');
      return { status, retryAfter: header('retry-after'), reason: shortReason(status, header('content-type'), body) };
    } finally {
      clearTimeout(deadline);
    }
  }
}

const preparedKey = (notification: ClaimedNotification, subscription: Subscription) => `${notification.id}/${subscription.id}`;

/**
 * The reason a push service gave: the `reason`, `message` or `error` string of a JSON error
 * (Apple, Mozilla autopush, FCM shapes), on one line and at most MAX_REASON_CHARS; else the
 * status's standard text (RFC 9110 §15). Never anything else of the body.
 */
function shortReason(status: number, contentType: string | undefined, body: string): string {
  const standard = http.STATUS_CODES[status] ?? 'unknown status';
  if (!/\bjson\b/i.test(contentType ?? '') || body === '') return standard;
  try {
    const error = JSON.parse(body) as Record<string, unknown>;
    const nested = error.error as Record<string, unknown> | undefined;
    const reason = [error.reason, error.message, nested?.message, error.error].find((v): v is string => typeof v === 'string');
    return reason
      ? reason
          .replace(/[\p{Cc}\s]+/gu, ' ')
          .trim()
          .slice(0, MAX_REASON_CHARS) || standard
      : standard;
  } catch {
    return standard;
  }
}

/** What a push service's answer means for this subscription (RFC 8030 §5, §6; RFC 8292 §4). */
function classify({ status, retryAfter, reason }: Response): Omit<Delivery, 'channel' | 'subscription_id'> {
  const error = status >= 200 && status < 300 ? null : `push service answered ${status} (${reason})`;
  if (status >= 200 && status < 300) return { status_code: status, outcome: 'delivered', error };
  if (status === 404 || status === 410) return { status_code: status, outcome: 'gone', error };
  if (status === 429 || status === 503)
    return { status_code: status, outcome: 'retry', error, retryAfterMs: parseRetryAfter(retryAfter) };
  if (status >= 500) return { status_code: status, outcome: 'retry', error };
  // Still too large for this service after the body was left out.
  if (status === 413) return { status_code: status, outcome: 'failed', error, unsendable: true };
  // 400/401/403: our request or VAPID identity is wrong; retrying the same request cannot help.
  return { status_code: status, outcome: 'failed', error, loud: [400, 401, 403].includes(status) };
}

/**
 * The subscription's keys (RFC 8291 §3.2: an uncompressed P-256 point, 65 bytes from 0x04, and a
 * 16-byte auth secret) as base64url, or why they cannot be used. Browsers' `getKey()` passed
 * through `btoa()` gives standard base64 (`+`, `/`, `=` padding), the Push API's `toJSON()`
 * base64url: both are read. Whether the point lies on the curve is checked by the encryption's
 * ECDH itself (`unusableKeys`), before any connection.
 */
function readKeys({ p256dh, auth }: Subscription): Keys | string {
  const decode = (text: string) => (/^[A-Za-z0-9+/_-]+={0,2}$/.test(text) ? Buffer.from(text, 'base64') : undefined);
  const key = decode(p256dh);
  if (!key || key.length !== 65 || key[0] !== 4) return NOT_ON_CURVE;
  const secret = decode(auth);
  if (!secret || secret.length !== 16) return 'auth is not a 16-byte secret';
  return { p256dh: key, auth: secret };
}
