import type { ClaimedNotification } from './types.js';

/**
 * RFC 8291: a push message is at most 4096 octets, of which the aes128gcm header takes 86
 * (salt 16, record size 4, key id length 1, key id 65) and the single record's tag 16 and
 * padding delimiter 1. The plaintext must fit in what is left.
 */
export const MAX_PLAINTEXT_BYTES = 4096 - 86 - 16 - 1;

/** A title longer than this is cut: the body makes room for the title, not the other way round. */
const MAX_TITLE_CHARS = 500;

/**
 * The JSON the service worker receives. The body is trimmed (on a character boundary, with an
 * ellipsis) until the whole payload fits; title and url are kept. `withBody: false` drops the
 * body entirely (after a 413 from a push service with a smaller limit).
 */
export function pushPayload(notification: ClaimedNotification, { withBody = true } = {}): Buffer {
  const message = (body: string | null) =>
    Buffer.from(
      JSON.stringify({
        id: notification.id,
        title: [...notification.title].slice(0, MAX_TITLE_CHARS).join(''),
        body,
        url: notification.url,
        source: notification.source,
      }),
    );
  const body = withBody ? notification.body : null;
  const whole = message(body);
  if (whole.length <= MAX_PLAINTEXT_BYTES || body === null) return whole;
  // The most characters of the body that still fit (binary search: characters have 1 to 4 bytes).
  const chars = [...body];
  const trimmed = (keep: number) => message(`${chars.slice(0, keep).join('')}…`);
  let [fits, tooMany] = [0, chars.length];
  while (tooMany - fits > 1) {
    const middle = Math.floor((fits + tooMany) / 2);
    if (trimmed(middle).length <= MAX_PLAINTEXT_BYTES) fits = middle;
    else tooMany = middle;
  }
  return fits > 0 ? trimmed(fits) : message(null);
}
