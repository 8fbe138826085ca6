import webpush from 'web-push';
import { configError } from '../../core/errors.js';

export interface VapidKeys {
  publicKey: string;
  privateKey: string;
  subject: string;
}

/**
 * VAPID `Authorization` headers, one signed JWT per push-service origin per run: an ES256
 * signature costs more than encrypting a message, and a JWT is valid for hours (web-push signs
 * them for 12 h, well under the 24 h push services accept).
 */
export class VapidSigner {
  private readonly byOrigin = new Map<string, string>();

  /** Checks the keys and subject once, up front: bad keys are a configuration error (exit 78). */
  constructor(private readonly keys: VapidKeys) {
    try {
      this.sign('https://push.example');
    } catch (err) {
      throw configError(`VAPID_PUBLIC_KEY / VAPID_PRIVATE_KEY / VAPID_SUBJECT are not usable: ${(err as Error).message}`);
    }
  }

  authorization(origin: string): string {
    let header = this.byOrigin.get(origin);
    if (!header) {
      header = this.sign(origin);
      this.byOrigin.set(origin, header);
    }
    return header;
  }

  /** Signatures made so far (one per origin). */
  get signed(): number {
    return this.byOrigin.size;
  }

  private sign(origin: string): string {
    const { publicKey, privateKey, subject } = this.keys;
    return webpush.getVapidHeaders(origin, subject, publicKey, privateKey, 'aes128gcm').Authorization;
  }
}

/** A fresh key pair, as the `VAPID_*` lines of an environment file. */
export function newVapidKeyLines(): string[] {
  const { publicKey, privateKey } = webpush.generateVAPIDKeys();
  return [`VAPID_PUBLIC_KEY=${publicKey}`, `VAPID_PRIVATE_KEY=${privateKey}`, 'VAPID_SUBJECT=mailto:admin@example.com'];
}
