import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';

// http_ece (a dependency of web-push) decrypts aes128gcm like a browser does.
const ece = createRequire(import.meta.url)('http_ece') as {
  decrypt(buffer: Buffer, params: { version: string; privateKey: crypto.ECDH; authSecret: string }): Buffer;
};

/** One scripted answer: a status (with headers and a body), or `hang` (never answer). */
export type Answer = { status: number; headers?: Record<string, string>; body?: string } | 'hang';

/** What a browser would show: the decrypted payload, with the headers it came with. */
export interface Received {
  subscription: string;
  payload: { id: string; title: string; body: string | null; url: string | null; source: string };
  ttl: number;
  urgency: string | undefined;
  topic: string | undefined;
  bytes: number;
  answered: number | 'hang';
  /** When it arrived (Date.now()): lateness in the latency benchmark. */
  receivedAt: number;
}

export interface TestSubscription {
  /** The id in the endpoint's path. */
  name: string;
  endpoint: string;
  p256dh: string;
  auth: string;
}

let certificate: { key: string; cert: string; caFile: string } | undefined;

/** A self-signed certificate for 127.0.0.1 and localhost, made once per test process with openssl. */
function selfSigned() {
  if (certificate) return certificate;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'planner-jobs-push-'));
  const keyFile = path.join(dir, 'key.pem');
  const caFile = path.join(dir, 'cert.pem');
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-keyout',
      keyFile,
      '-out',
      caFile,
      '-days',
      '2',
      '-subj',
      '/CN=127.0.0.1',
      '-addext',
      'subjectAltName=IP:127.0.0.1,DNS:localhost',
    ],
    { stdio: 'ignore' },
  );
  certificate = { key: fs.readFileSync(keyFile, 'utf8'), cert: fs.readFileSync(caFile, 'utf8'), caFile };
  return certificate;
}

/**
 * A real Web Push service on https://127.0.0.1 (RFC 8030): it checks every request the way a
 * browser vendor's service does (VAPID JWT signed ES256 by the expected key, `aud` its origin,
 * `exp` at most 24 h ahead, a mailto:/https: subject; `TTL`; `Content-Encoding: aes128gcm`;
 * at most 4096 bytes), decrypts the body with the subscription's private key and auth secret,
 * and answers as scripted per subscription (default 201). Requests that fail a check are
 * answered 400/401/413 and kept in `rejected`.
 */
export class PushService {
  readonly received: Received[] = [];
  readonly rejected: { subscription: string; reason: string }[] = [];
  /** Distinct VAPID JWTs seen (one per origin per run is the goal). */
  readonly tokens = new Set<string>();
  /** Connections accepted so far. */
  connections = 0;
  openConnections = 0;
  maxOpenConnections = 0;
  /** Delay before every answer, to keep requests in flight. */
  delayMs = 0;
  /** A payload limit below 4096 bytes, like some services have (answered 413). */
  maxBytes = 4096;
  /** Decrypt one message in this many (benchmarks: the service's CPU is not what is measured). */
  decryptEvery = 1;
  /** Messages accepted, decrypted or not. */
  accepted = 0;

  private readonly keys = new Map<string, { ecdh: crypto.ECDH; auth: string }>();
  private readonly scripts = new Map<string, Answer[]>();
  private readonly hanging = new Set<import('node:http').ServerResponse>();
  private readonly waiters: { count: number; resolve: () => void }[] = [];

  private constructor(
    private readonly server: https.Server,
    readonly origin: string,
    readonly caFile: string,
    private readonly vapidPublicKey: string,
  ) {}

  static async start(vapidPublicKey: string): Promise<PushService> {
    const { key, cert, caFile } = selfSigned();
    const server = https.createServer({ key, cert, keepAliveTimeout: 30_000 });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    const service = new PushService(server, `https://127.0.0.1:${port}`, caFile, vapidPublicKey);
    server.on('connection', (socket) => {
      service.connections += 1;
      service.openConnections += 1;
      service.maxOpenConnections = Math.max(service.maxOpenConnections, service.openConnections);
      socket.once('close', () => (service.openConnections -= 1));
    });
    server.on('request', (req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => void service.handle(req, Buffer.concat(chunks), res));
    });
    return service;
  }

  /**
   * What the CLI needs to reach this service: trust in its self-signed certificate, and
   * 127.0.0.1 allowed although it is loopback (push endpoints must otherwise be public).
   */
  get clientEnv(): Record<string, string> {
    return { NODE_EXTRA_CA_CERTS: this.caFile, PUSH_ALLOWED_HOSTS: '127.0.0.1' };
  }

  /** A browser's subscription: a fresh P-256 key pair and auth secret the test keeps for decrypting. */
  subscribe(name: string = crypto.randomUUID()): TestSubscription {
    const ecdh = crypto.createECDH('prime256v1');
    ecdh.generateKeys();
    const auth = crypto.randomBytes(16).toString('base64url');
    this.keys.set(name, { ecdh, auth });
    return { name, endpoint: `${this.origin}/push/${name}`, p256dh: ecdh.getPublicKey().toString('base64url'), auth };
  }

  /** The next answers for one subscription, in order; after them, 201. */
  script(subscription: TestSubscription, ...answers: Answer[]): void {
    this.scripts.set(subscription.name, [...(this.scripts.get(subscription.name) ?? []), ...answers]);
  }

  /** Resolves the moment the `count`-th message has been received (before it is answered). */
  receivedCount(count: number): Promise<void> {
    if (this.received.length >= count) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ count, resolve }));
  }

  /** Decrypted messages one subscription received. */
  messagesOf(subscription: TestSubscription): Received[] {
    return this.received.filter((r) => r.subscription === subscription.name);
  }

  async close(): Promise<void> {
    for (const res of this.hanging) res.destroy();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private async handle(req: import('node:http').IncomingMessage, body: Buffer, res: import('node:http').ServerResponse) {
    const name = /^\/push\/([^/]+)$/.exec(req.url ?? '')?.[1];
    const subscriber = name ? this.keys.get(name) : undefined;
    const reject = (status: number, reason: string) => {
      this.rejected.push({ subscription: name ?? req.url ?? '?', reason });
      res.writeHead(status, { 'Content-Type': 'text/plain' }).end(reason);
    };
    if (req.method !== 'POST' || !name || !subscriber) return reject(404, 'no such subscription');
    const problem = this.checkVapid(req.headers.authorization);
    if (problem) return reject(401, problem);
    const ttl = Number(req.headers.ttl);
    if (req.headers.ttl === undefined || !Number.isInteger(ttl) || ttl < 0) return reject(400, 'TTL header missing or invalid');
    if (req.headers['content-encoding'] !== 'aes128gcm') return reject(415, 'Content-Encoding must be aes128gcm');
    if (body.length > this.maxBytes) return reject(413, `payload of ${body.length} bytes is over ${this.maxBytes}`);
    this.accepted += 1;
    if (this.accepted % this.decryptEvery !== 0) {
      res.writeHead(201).end();
      return;
    }
    let payload: Received['payload'];
    try {
      payload = JSON.parse(
        ece.decrypt(body, { version: 'aes128gcm', privateKey: subscriber.ecdh, authSecret: subscriber.auth }).toString('utf8'),
      );
    } catch (err) {
      return reject(400, `cannot decrypt: ${(err as Error).message}`);
    }
    const answer = this.scripts.get(name)?.shift() ?? { status: 201 };
    this.received.push({
      subscription: name,
      payload,
      ttl,
      urgency: req.headers.urgency as string | undefined,
      topic: req.headers.topic as string | undefined,
      bytes: body.length,
      answered: answer === 'hang' ? 'hang' : answer.status,
      receivedAt: Date.now(),
    });
    for (const waiter of this.waiters.filter((w) => w.count <= this.received.length)) {
      this.waiters.splice(this.waiters.indexOf(waiter), 1);
      waiter.resolve();
    }
    if (this.delayMs > 0) await new Promise((resolve) => setTimeout(resolve, this.delayMs));
    if (answer === 'hang') {
      this.hanging.add(res);
      return;
    }
    res.writeHead(answer.status, answer.headers).end(answer.body);
  }

  /** A token verified before is accepted again until its exp (as a real service caches it). */
  private verifiedUntil(jwt: string): boolean {
    const { exp } = JSON.parse(Buffer.from(jwt.split('.')[1], 'base64url').toString());
    return exp > Date.now() / 1000;
  }

  /** RFC 8292: `vapid t=<JWT>, k=<public key>`; undefined when it is valid. */
  private checkVapid(header: string | undefined): string | undefined {
    const match = /^vapid t=([^,\s]+),\s*k=([A-Za-z0-9_-]+)$/.exec(header ?? '');
    if (!match) return 'Authorization is not "vapid t=..., k=..."';
    const [, jwt, k] = match;
    if (k !== this.vapidPublicKey) return 'k is not the expected VAPID public key';
    if (this.tokens.has(jwt) && this.verifiedUntil(jwt)) return undefined;
    const [head, claims, signature] = jwt.split('.');
    const point = Buffer.from(k, 'base64url');
    const key = crypto.createPublicKey({
      key: {
        kty: 'EC',
        crv: 'P-256',
        x: point.subarray(1, 33).toString('base64url'),
        y: point.subarray(33).toString('base64url'),
      },
      format: 'jwk',
    });
    const valid = crypto.verify(
      'sha256',
      Buffer.from(`${head}.${claims}`),
      { key, dsaEncoding: 'ieee-p1363' },
      Buffer.from(signature ?? '', 'base64url'),
    );
    if (!valid) return 'bad JWT signature';
    const { alg } = JSON.parse(Buffer.from(head, 'base64url').toString());
    const { aud, exp, sub } = JSON.parse(Buffer.from(claims, 'base64url').toString());
    const nowSeconds = Date.now() / 1000;
    if (alg !== 'ES256') return `alg ${alg} is not ES256`;
    // Reached by name, its origin is https://localhost:<port>.
    if (aud !== this.origin && aud !== this.origin.replace('127.0.0.1', 'localhost')) return `aud ${aud} is not ${this.origin}`;
    if (typeof exp !== 'number' || exp <= nowSeconds || exp > nowSeconds + 24 * 3600) return 'exp is not within 24 h';
    if (typeof sub !== 'string' || !/^(mailto:|https:)/.test(sub)) return 'sub is not mailto: or https:';
    this.tokens.add(jwt);
    return undefined;
  }
}
