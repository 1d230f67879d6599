import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebhookReceiver, type WebhookEvent } from 'livekit-server-sdk';
import { dribble } from './trickle';

export const API_KEY = 'test-key';
export const API_SECRET = 'test-secret-that-is-long-enough-for-hs256';

/**
 * A real webhook endpoint: every request is checked with livekit-server-sdk's
 * WebhookReceiver and answered 401 if it fails. `answer` decides the status of a verified
 * delivery (by event and how many times that event id was seen); only 2xx are recorded.
 */
export class TestReceiver {
  readonly received: WebhookEvent[] = [];
  readonly rejected: string[] = [];
  readonly attempts = new Map<string, number>();
  answer: (ev: WebhookEvent, attempt: number) => number = () => 200;
  /** Headers of the answer to a verified delivery (a `Retry-After`, say). */
  answerHeaders: (ev: WebhookEvent, attempt: number) => Record<string, string> = () => ({});
  /** Time taken to answer each request, so deliveries are in flight when a test acts. */
  delayMs = 0;
  /**
   * A receiver that never finishes answering this delivery, sending a byte every 50 ms until
   * the connection closes: after its status ('body'), or within its head ('head', no status
   * ever complete). A 'body' answer with a 2xx status is recorded as received.
   */
  trickle: (ev: WebhookEvent, attempt: number) => 'body' | 'head' | null = () => null;
  /** Requests open now, and the most ever open at once (a cap on concurrent deliveries shows here). */
  open = 0;
  maxOpen = 0;
  private server: http.Server | null = null;
  private port = 0;
  private readonly verifier = new WebhookReceiver(API_KEY, API_SECRET);

  get url(): string {
    return `http://127.0.0.1:${this.port}/webhook`;
  }

  async start(port = 0): Promise<void> {
    this.server = http.createServer((req, res) => {
      this.open++;
      this.maxOpen = Math.max(this.maxOpen, this.open);
      res.on('close', () => { this.open--; });
      const chunks: Buffer[] = [];
      req.on('data', (c) => chunks.push(c));
      req.on('end', async () => {
        const body = Buffer.concat(chunks).toString('utf8');
        try {
          if (req.headers['content-type'] !== 'application/webhook+json') throw new Error(`content-type ${req.headers['content-type']}`);
          const ev = await this.verifier.receive(body, req.headers.authorization);
          const attempt = (this.attempts.get(ev.id) ?? 0) + 1;
          this.attempts.set(ev.id, attempt);
          const status = this.answer(ev, attempt);
          if (this.delayMs) await new Promise((r) => setTimeout(r, this.delayMs));
          const trickle = this.trickle(ev, attempt);
          if (trickle === 'head') {
            req.socket.write(`HTTP/1.1 ${status} OK\r\n`);
            dribble(req.socket, 'X-Slow: 1\r\n', 50);
            return;
          }
          if (status >= 200 && status < 300) this.received.push(ev);
          if (trickle === 'body') {
            res.writeHead(status, { 'Content-Type': 'text/plain' });
            const timer = setInterval(() => res.write('.'), 50);
            res.on('close', () => clearInterval(timer));
            return;
          }
          res.writeHead(status, this.answerHeaders(ev, attempt)).end();
        } catch (e) {
          this.rejected.push((e as Error).message);
          res.writeHead(401).end();
        }
      });
    });
    await new Promise<void>((r) => this.server!.listen(port, '127.0.0.1', r));
    this.port = (this.server.address() as AddressInfo).port;
  }

  async stop(): Promise<void> {
    const s = this.server;
    this.server = null;
    if (s) await new Promise((r) => { s.closeAllConnections(); s.close(r); });
  }

  /** Verified deliveries of one room, event names in arrival order, first arrival of each id. */
  roomSequence(room: string): string[] {
    const seen = new Set<string>();
    return this.received.filter((e) => e.room?.name === room && !seen.has(e.id) && seen.add(e.id)).map((e) => e.participant?.identity ?? e.event);
  }
}
