import type { ClaimedNotification } from './types.js';

/**
 * RFC 8030 §7.2 / RFC 8291 §4: a push message is at most 4096 octets, of which the aes128gcm
 * header (RFC 8188 §2.1) takes 86 (salt 16, record size 4, key id length 1, key id 65) and the
 * single record's tag 16 and padding delimiter 1. The plaintext must fit in what is left.
 */
export const MAX_PLAINTEXT_BYTES = 4096 - 86 - 16 - 1;

/** A title longer than this is cut: the body makes room for the title, not the other way round. */
const MAX_TITLE_CHARS = 500;

/** The JSON the service worker receives, or why the notification cannot be pushed at all. */
export type PushPayload = { bytes: Buffer; problem?: undefined } | { bytes?: undefined; problem: string };

interface Fields {
  title: string;
  body: string | null;
  url: string | null;
}

/**
 * The JSON the service worker receives: `{id, title, body, url, source}`, every field counted
 * toward MAX_PLAINTEXT_BYTES. What does not fit is given up in order: the body is trimmed first
 * (on a character boundary, with an ellipsis); if the url still does not fit it is dropped whole
 * (a cut link leads nowhere) and the body gets the room back; the title is cut last. When even
 * an empty title does not fit (a huge `source`), the notification cannot be pushed: `problem`
 * says why. `withBody: false` leaves the body out (after a 413 from a service with a smaller limit).
 */
export function pushPayload(notification: ClaimedNotification, { withBody = true } = {}): PushPayload {
  const encode = ({ title, body, url }: Fields) =>
    Buffer.from(JSON.stringify({ id: notification.id, title, body, url, source: notification.source }));
  const title = [...notification.title].slice(0, MAX_TITLE_CHARS).join('');
  const body = withBody ? notification.body : null;
  const bytes =
    longestFitting(body, (text) => encode({ title, body: text, url: notification.url })) ??
    longestFitting(body, (text) => encode({ title, body: text, url: null })) ??
    longestFitting(title, (text) => encode({ title: text ?? '', body: null, url: null }));
  if (bytes) return { bytes };
  return {
    problem: `message cannot fit the 4096-byte push limit even without body, url and title (${encode({ title: '', body: null, url: null }).length} bytes of plaintext, at most ${MAX_PLAINTEXT_BYTES})`,
  };
}

/**
 * The message with as much of `text` as fits: all of it, else its longest prefix with an
 * ellipsis, else none of it (null); undefined when even that is too large.
 */
function longestFitting(text: string | null, encode: (text: string | null) => Buffer): Buffer | undefined {
  const fits = (message: Buffer) => message.length <= MAX_PLAINTEXT_BYTES;
  const whole = encode(text);
  if (fits(whole)) return whole;
  if (text === null) return undefined;
  // The most characters that still fit (binary search: characters take 1 to 4 bytes, escapes up to 6).
  const chars = [...text];
  const trimmed = (keep: number) => encode(`${chars.slice(0, keep).join('')}…`);
  let [fitting, tooMany] = [0, chars.length];
  while (tooMany - fitting > 1) {
    const middle = Math.floor((fitting + tooMany) / 2);
    if (fits(trimmed(middle))) fitting = middle;
    else tooMany = middle;
  }
  if (fitting > 0) return trimmed(fitting);
  const without = encode(null);
  return fits(without) ? without : undefined;
}
