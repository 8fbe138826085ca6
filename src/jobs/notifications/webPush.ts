import fs from 'node:fs';
import https from 'node:https';
import tls from 'node:tls';
import pLimit, { type LimitFunction } from 'p-limit';
import webpush from 'web-push';
import { describeError } from '../../core/errors.js';
import { Encryptor } from './encryptor.js';
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
}

interface Response {
  status: number;
  retryAfter?: string;
  text: string;
}

/**
 * Web Push (RFC 8030/8291/8292) over kept-alive connections: the payload encrypted with web-push
 * (aes128gcm, on a worker thread batch by batch), the cached VAPID header of the endpoint's origin, TTL / Urgency / Topic from the
 * notification, at most `connectionsPerOrigin` requests in flight per origin.
 */
export class PushSender {
  private readonly agent: https.Agent;
  private readonly perOrigin = new Map<string, LimitFunction>();
  private readonly encryptor = new Encryptor();
  /** Ciphertexts (or why the keys are unusable) made by `prepare`, by notification and subscription. */
  private readonly prepared = new Map<string, Buffer | string>();

  constructor(
    private readonly vapid: VapidSigner,
    private readonly options: PushSenderOptions,
    private readonly now: Date,
  ) {
    const extraCa = options.extraCaCertsFile ? fs.readFileSync(options.extraCaCertsFile, 'utf8') : undefined;
    // maxSockets is per origin (host:port) for one agent. One secure context for every
    // connection: parsing the CA list per connection would cost more than the handshake.
    this.agent = new https.Agent({
      keepAlive: true,
      maxSockets: options.connectionsPerOrigin,
      ...(extraCa && { secureContext: tls.createSecureContext({ ca: [...tls.rootCertificates, extraCa] }) }),
    });
  }

  /** Encrypts a batch's payloads on the worker thread, ahead of `send`. */
  async prepare(batch: readonly ClaimedNotification[]): Promise<void> {
    const owed = batch.flatMap((notification) =>
      notification.subscriptions.filter((s) => !keyProblem(s)).map((subscription) => ({ notification, subscription })),
    );
    const results = await this.encryptor.encrypt(
      owed.map(({ notification, subscription }) => ({
        p256dh: subscription.p256dh,
        auth: subscription.auth,
        payload: pushPayload(notification),
      })),
    );
    owed.forEach(({ notification, subscription }, i) => this.prepared.set(`${notification.id}/${subscription.id}`, results[i]));
  }

  async send(subscription: Subscription, notification: ClaimedNotification): Promise<Delivery> {
    const delivery = (fields: Omit<Delivery, 'channel' | 'subscription_id'>): Delivery => ({
      channel: 'web',
      subscription_id: subscription.id,
      ...fields,
    });
    const problem = keyProblem(subscription);
    if (problem) return delivery({ status_code: null, outcome: 'failed', error: problem, quarantine: true });

    const encrypt = (withBody: boolean) =>
      webpush.encrypt(subscription.p256dh, subscription.auth, pushPayload(notification, { withBody }), 'aes128gcm').cipherText;
    const key = `${notification.id}/${subscription.id}`;
    let cipherText = this.prepared.get(key);
    this.prepared.delete(key);
    try {
      cipherText ??= encrypt(true);
    } catch (err) {
      cipherText = describeError(err);
    }
    // Well-formed bytes but not a point on the curve.
    if (typeof cipherText === 'string') {
      return delivery({ status_code: null, outcome: 'failed', error: `unusable keys: ${cipherText}`, quarantine: true });
    }
    const ready = cipherText;
    const origin = new URL(subscription.endpoint).origin;
    let limit = this.perOrigin.get(origin);
    if (!limit) this.perOrigin.set(origin, (limit = pLimit(this.options.connectionsPerOrigin)));
    try {
      let response = await limit(() => this.post(subscription, notification, origin, ready));
      // The service's own limit is below 4 KB: send it again without the body (title and url kept).
      if (response.status === 413) response = await limit(() => this.post(subscription, notification, origin, encrypt(false)));
      return delivery(classify(response));
    } catch (err) {
      return delivery({ status_code: null, outcome: 'retry', error: describeError(err) });
    }
  }

  async close(): Promise<void> {
    this.agent.destroy();
    await this.encryptor.close();
  }

  private post(
    subscription: Subscription,
    notification: ClaimedNotification,
    origin: string,
    cipherText: Buffer,
  ): Promise<Response> {
    const { ttlSeconds, urgency } = pushPolicy(notification, this.now);
    return new Promise<Response>((resolve, reject) => {
      const request = https.request(subscription.endpoint, {
        method: 'POST',
        agent: this.agent,
        headers: {
          Authorization: this.vapid.authorization(origin),
          TTL: String(ttlSeconds),
          Urgency: urgency,
          Topic: pushTopic(notification.id),
          'Content-Type': 'application/octet-stream',
          'Content-Encoding': 'aes128gcm',
          'Content-Length': cipherText.length,
        },
      });
      // The whole request's deadline, connecting included (a socket timeout would only catch silence).
      const deadline = setTimeout(
        () => request.destroy(new Error(`no answer within ${this.options.requestTimeoutMs / 1000}s (request timeout)`)),
        this.options.requestTimeoutMs,
      );
      request.once('close', () => clearTimeout(deadline));
      request.once('error', reject);
      request.once('response', (response) => {
        let text = '';
        response.on('data', (chunk: Buffer) => {
          if (text.length < 500) text += chunk.toString('utf8');
        });
        response.once('error', reject);
        response.once('end', () => {
          clearTimeout(deadline);
          resolve({ status: response.statusCode ?? 0, retryAfter: response.headers['retry-after'], text: text.slice(0, 500) });
        });
      });
      request.end(cipherText);
    });
  }
}

/** What a push service's answer means for this subscription. */
function classify({ status, retryAfter, text }: Response): Omit<Delivery, 'channel' | 'subscription_id'> {
  const error = status >= 200 && status < 300 ? null : `push service answered ${status}${text ? `: ${text.trim()}` : ''}`;
  if (status >= 200 && status < 300) return { status_code: status, outcome: 'delivered', error };
  if (status === 404 || status === 410) return { status_code: status, outcome: 'gone', error };
  if (status === 429 || status === 503)
    return { status_code: status, outcome: 'retry', error, retryAfterMs: parseRetryAfter(retryAfter) };
  if (status >= 500) return { status_code: status, outcome: 'retry', error };
  // 400/401/403: our request or VAPID identity is wrong; retrying the same request cannot help.
  return { status_code: status, outcome: 'failed', error, loud: [400, 401, 403].includes(status) };
}

/** Why a subscription's keys cannot be used (RFC 8291: a P-256 point and a 16-byte auth secret), or undefined. */
function keyProblem({ endpoint, p256dh, auth }: Subscription): string | undefined {
  const base64url = /^[A-Za-z0-9_-]+=*$/;
  try {
    if (new URL(endpoint).protocol !== 'https:') return 'endpoint is not an https URL';
  } catch {
    return 'endpoint is not a URL';
  }
  const key = base64url.test(p256dh) ? Buffer.from(p256dh, 'base64url') : undefined;
  if (!key || key.length !== 65 || key[0] !== 4) return 'p256dh is not an uncompressed P-256 public key';
  const secret = base64url.test(auth) ? Buffer.from(auth, 'base64url') : undefined;
  if (!secret || secret.length !== 16) return 'auth is not a 16-byte secret';
  return undefined;
}
