import http from 'node:http';
import type { AddressInfo } from 'node:net';

export type ChatAnswer = { status: number; headers?: Record<string, string> };

/** A Slack-compatible incoming webhook on http://127.0.0.1: records every post, answers as scripted (default 200 "ok"). */
export class ChatReceiver {
  readonly posts: { text: string }[] = [];
  readonly answers: ChatAnswer[] = [];
  requests = 0;

  private constructor(
    private readonly server: http.Server,
    readonly url: string,
  ) {}

  static async start(): Promise<ChatReceiver> {
    const server = http.createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const receiver = new ChatReceiver(
      server,
      `http://127.0.0.1:${(server.address() as AddressInfo).port}/services/T000/B000/XXXX`,
    );
    server.on('request', (req, res) => {
      let body = '';
      req.on('data', (chunk) => (body += chunk));
      req.on('end', () => {
        receiver.requests += 1;
        const answer = receiver.answers.shift() ?? { status: 200 };
        if (answer.status === 200) receiver.posts.push(JSON.parse(body));
        res
          .writeHead(answer.status, { 'Content-Type': 'text/plain', ...answer.headers })
          .end(answer.status === 200 ? 'ok' : 'no');
      });
    });
    return receiver;
  }

  /** The next answers, in order; after them, 200. */
  script(...answers: ChatAnswer[]): void {
    this.answers.push(...answers);
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
