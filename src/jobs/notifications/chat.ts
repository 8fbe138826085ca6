import { describeError } from '../../core/errors.js';
import type { Logger } from '../../core/logger.js';
import { parseRetryAfter } from './policy.js';
import type { ClaimedNotification, Delivery } from './types.js';

/**
 * Chatbot alerts: one post per notification to a Slack-compatible incoming webhook. A 429 pauses
 * the channel for the rest of the run (its `Retry-After`, the same for every notification still
 * owed); a 404/410 means the webhook is dead: reported once, and no more posts this run.
 */
export class ChatSender {
  private pausedUntil = 0;
  private deadReason?: string;

  constructor(
    private readonly webhookUrl: string,
    private readonly requestTimeoutMs: number,
    private readonly log: Logger,
  ) {}

  /** Set once the webhook answered 404/410: the operator must configure a new one. */
  get dead(): string | undefined {
    return this.deadReason;
  }

  async send(notification: ClaimedNotification): Promise<Delivery> {
    const delivery = (fields: Omit<Delivery, 'channel' | 'subscription_id'>): Delivery => ({
      channel: 'chat',
      subscription_id: null,
      ...fields,
    });
    if (this.deadReason) return delivery({ status_code: null, outcome: 'gone', error: this.deadReason });
    const waitMs = this.pausedUntil - Date.now();
    if (waitMs > 0)
      return delivery({ status_code: null, outcome: 'retry', error: 'chat webhook asked to slow down', retryAfterMs: waitMs });
    try {
      const response = await fetch(this.webhookUrl, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ text: chatText(notification) }),
        signal: AbortSignal.timeout(this.requestTimeoutMs),
      });
      const text = (await response.text()).slice(0, 500);
      const status = response.status;
      const error = response.ok ? null : `chat webhook answered ${status}${text ? `: ${text.trim()}` : ''}`;
      if (response.ok) return delivery({ status_code: status, outcome: 'delivered', error });
      if (status === 404 || status === 410) {
        this.deadReason ??= `CHAT_WEBHOOK_URL is dead: ${error}`;
        this.log.error({ status }, `${this.deadReason}; no more chat posts this run, configure a new webhook`);
        return delivery({ status_code: status, outcome: 'gone', error });
      }
      if (status === 429 || status >= 500) {
        const retryAfterMs = parseRetryAfter(response.headers.get('retry-after'));
        if (status === 429) this.pausedUntil = Math.max(this.pausedUntil, Date.now() + (retryAfterMs ?? 1000));
        return delivery({ status_code: status, outcome: 'retry', error, retryAfterMs });
      }
      return delivery({ status_code: status, outcome: 'failed', error, loud: true });
    } catch (err) {
      return delivery({ status_code: null, outcome: 'retry', error: describeError(err) });
    }
  }
}

/** Slack mrkdwn: the title in bold, the body, the link. */
function chatText({ title, body, url }: ClaimedNotification): string {
  const escape = (text: string) => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
  return [`*${escape(title)}*`, body && escape(body), url && `<${url}>`].filter(Boolean).join('\n');
}
