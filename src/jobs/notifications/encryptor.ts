import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';

export interface EncryptItem {
  p256dh: string;
  auth: string;
  payload: Buffer;
}

// Plain CommonJS so the same worker runs from the TypeScript sources (tests) and the build.
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const webpush = require(workerData.webPush);
parentPort.on('message', ({ id, items }) => {
  const results = items.map(({ p256dh, auth, payload }) => {
    try {
      return webpush.encrypt(p256dh, auth, Buffer.from(payload), 'aes128gcm').cipherText;
    } catch (err) {
      return { code: err && err.code, message: String((err && err.message) || err) };
    }
  });
  parentPort.postMessage({ id, results });
});
`;

/** Why keys are unusable when encryption itself refuses them: the point is not on P-256 (OpenSSL's check in ECDH). */
export const NOT_ON_CURVE = 'p256dh is not an uncompressed P-256 public key';

/**
 * The quarantine reason for an encryption failure: keys of the right length and alphabet whose
 * point is not on the curve (ECDH validates it, so no separate check costs a conversion per
 * message), or whatever else web-push refused.
 */
export function unusableKeys(err: { code?: unknown; message?: unknown } | null | undefined): string {
  if (err?.code === 'ERR_CRYPTO_ECDH_INVALID_PUBLIC_KEY') return NOT_ON_CURVE;
  return `unusable keys: ${String(err?.message ?? err)}`;
}

/**
 * RFC 8291 encryption of many payloads on a worker thread, so that the event loop sends one batch
 * while the next one is encrypted (encryption is the largest cost of a message). Each result is
 * the ciphertext, or the reason the keys could not be used (`unusableKeys`).
 */
export class Encryptor {
  private worker?: Worker;
  private nextId = 0;
  private readonly pending = new Map<number, { resolve: (results: (Buffer | string)[]) => void; reject: (err: Error) => void }>();

  encrypt(items: readonly EncryptItem[]): Promise<(Buffer | string)[]> {
    if (items.length === 0) return Promise.resolve([]);
    const worker = this.start();
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      worker.postMessage({ id, items });
    });
  }

  async close(): Promise<void> {
    await this.worker?.terminate();
    this.worker = undefined;
  }

  private start(): Worker {
    if (this.worker) return this.worker;
    const worker = new Worker(WORKER_SOURCE, {
      eval: true,
      workerData: { webPush: createRequire(import.meta.url).resolve('web-push') },
    });
    worker.on('message', ({ id, results }: { id: number; results: (Uint8Array | { code?: unknown; message: string })[] }) => {
      const waiter = this.pending.get(id);
      this.pending.delete(id);
      waiter?.resolve(
        results.map((r) => (r instanceof Uint8Array ? Buffer.from(r.buffer, r.byteOffset, r.byteLength) : unusableKeys(r))),
      );
    });
    worker.on('error', (err: Error) => {
      for (const waiter of this.pending.values()) waiter.reject(err);
      this.pending.clear();
      this.worker = undefined;
    });
    this.worker = worker;
    return worker;
  }
}
