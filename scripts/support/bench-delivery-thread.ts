/**
 * bench:webhooks --threads node: the delivery on a thread of its own, as `npm start` runs
 * it (lib/node/jobs-thread.ts). The main thread's WebhookDelivery is not started: it only
 * enqueues, and posts each inline run its enqueue starts here (runInlineWith); this
 * thread's WebhookDelivery, started on the same Redis, KeySpace prefix and options, sends
 * them (runInline) and takes the BullMQ jobs. It reports what the bench's rows read: the
 * deliveries, their latencies (batched, every REPORT_MS), the inline runs and the holds by
 * per-URL limits.
 */
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import pino from 'pino';
import { createRedis } from '../../lib/redis/connection';
import { KeySpace } from '../../lib/redis/keys';
import { WebhookDelivery, type RunJob } from '../../lib/webhooks/delivery';
import type { WebhookMetrics } from '../../lib/webhooks/metrics';
import type { WebhookOptions } from '../../lib/webhooks/options';
import { SpareSlotFlags } from '../../lib/webhooks/spare-slots';

/** What the main thread gives the delivery thread. */
export interface DeliveryThreadData {
  redisUrl: string;
  prefix: string;
  shards: number;
  options: WebhookOptions;
  concurrency: number;
  /** The memory of the SpareSlotFlags the thread's delivery publishes, as npm start's jobs thread does. */
  spareSlots: SharedArrayBuffer;
}

/** Main thread to delivery thread: an inline run to send, or the end of the row. */
type ToThread = { type: 'inline'; runId: string; run: RunJob; dropped: number; slotAt: number } | { type: 'close' };

/** What the delivery thread has counted so far (cumulative), and the latencies (ms) recorded since its last report. */
interface Report {
  delivered: number;
  latencies: number[];
  inline: WebhookMetrics['inline'];
  limitHolds: WebhookMetrics['limitHolds'];
}

/** Delivery thread to main thread. */
type FromThread = { type: 'started' } | { type: 'failed'; message: string } | ({ type: 'report' } & Report) | ({ type: 'closed' } & Report);

/** How often the delivery thread posts its latencies and counts. */
const REPORT_MS = 20;

/** The main thread's side: starts the thread, hands it inline runs, holds its latest counts. */
export class DeliveryThread {
  private deliveredCount = 0;
  private inlineCounts: WebhookMetrics['inline'] = { started: 0, handedOn: { wait: 0, yield: 0, busy: 0, lapsed: 0 } };
  private limitHoldCounts: WebhookMetrics['limitHolds'] = { inFlight: 0, rate: 0 };
  private readonly listeners: ((latencyMs: number) => void)[] = [];
  private failure: Error | null = null;
  private readonly exited: Promise<void>;
  /** Its last report ('closed'), with the final counts, came: the thread exits after it. */
  private lastReport = false;

  private constructor(private readonly worker: Worker) {
    this.exited = new Promise<void>((resolve) => worker.once('exit', (code) => {
      if (!this.lastReport) this.failure ??= new Error(`the delivery thread exited (${code}) without its last report`);
      resolve();
    }));
    worker.on('error', (e) => { this.failure ??= e; });
    worker.on('message', (m: FromThread) => {
      if (m.type !== 'report' && m.type !== 'closed') return;
      this.deliveredCount = m.delivered;
      this.inlineCounts = m.inline;
      this.limitHoldCounts = m.limitHolds;
      for (const ms of m.latencies) for (const listener of this.listeners) listener(ms);
      if (m.type === 'closed') this.lastReport = true;
    });
  }

  /** Starts the thread and waits until its delivery is started. */
  static async start(data: DeliveryThreadData): Promise<DeliveryThread> {
    // a thread does not inherit the TypeScript loader the process was started with
    const tsx = JSON.stringify(require.resolve('tsx/cjs'));
    const worker = new Worker(`require(${tsx}); require(${JSON.stringify(__filename)});`, { eval: true, workerData: data });
    await new Promise<void>((resolve, reject) => {
      const onMessage = (m: FromThread) => {
        if (m.type !== 'started' && m.type !== 'failed') return;
        worker.off('message', onMessage);
        if (m.type === 'started') resolve(); else reject(new Error(`delivery thread: ${m.message}`));
      };
      worker.on('message', onMessage);
      worker.once('error', reject);
      worker.once('exit', (code) => reject(new Error(`the delivery thread exited (${code}) before starting`)));
    });
    return new DeliveryThread(worker);
  }

  /** Hands the thread's delivery a run the main thread's enqueue started (its runInline). */
  runInline(runId: string, run: RunJob, dropped: number, slotAt: number): void {
    this.worker.postMessage({ type: 'inline', runId, run, dropped, slotAt } satisfies ToThread);
  }

  private check(): void {
    if (this.failure) throw this.failure;
  }

  /** Deliveries the thread has reported (up to REPORT_MS late); throws if the thread failed. */
  delivered(): number {
    this.check();
    return this.deliveredCount;
  }

  /** Calls `listener` with each delivery's enqueue-to-delivery latency (ms), as the thread reports it. */
  onDelivery(listener: (latencyMs: number) => void): void {
    this.listeners.push(listener);
  }

  inline(): WebhookMetrics['inline'] {
    return this.inlineCounts;
  }

  limitHolds(): WebhookMetrics['limitHolds'] {
    return this.limitHoldCounts;
  }

  /** Closes the thread's delivery and its Redis connection (its last counts come with it), and waits for the thread to end. */
  async close(): Promise<void> {
    // a thread's messages come before its 'exit'
    if (!this.failure) this.worker.postMessage({ type: 'close' } satisfies ToThread);
    await this.exited;
    this.check();
  }
}

/** The thread's side: a started WebhookDelivery sending the runs it is handed. */
async function runThread(port: NonNullable<typeof parentPort>, data: DeliveryThreadData): Promise<void> {
  const redis = createRedis(data.redisUrl);
  const delivery = new WebhookDelivery(redis, data.redisUrl, new KeySpace(data.prefix, data.shards), data.options, pino({ level: 'silent' }));
  let latencies: number[] = [];
  delivery.metrics.onDelivery((ms) => latencies.push(ms));
  let reported = -1;
  const report = (): Report => {
    const { delivered, inline, limitHolds } = delivery.metrics;
    const r = { delivered, latencies, inline, limitHolds };
    latencies = [];
    reported = delivered;
    return r;
  };
  try {
    await delivery.start({ concurrency: data.concurrency });
    delivery.shareSpareSlots(new SpareSlotFlags(data.options.urls, data.spareSlots));
  } catch (e) {
    port.postMessage({ type: 'failed', message: (e as Error).message } satisfies FromThread);
    await redis.quit().catch(() => redis.disconnect());
    process.exit(1);
  }
  // new deliveries only: the counts that change without one (holds, hand-ons) come with the next, or with 'closed'
  const timer = setInterval(() => {
    if (delivery.metrics.delivered !== reported) port.postMessage({ type: 'report', ...report() } satisfies FromThread);
  }, REPORT_MS);
  port.on('message', async (m: ToThread) => {
    if (m.type === 'inline') {
      delivery.runInline(m.runId, m.run, m.dropped, m.slotAt);
      return;
    }
    clearInterval(timer);
    await delivery.close();
    await redis.quit().catch(() => redis.disconnect());
    port.postMessage({ type: 'closed', ...report() } satisfies FromThread);
    port.close();
    process.exit(0);
  });
  port.postMessage({ type: 'started' } satisfies FromThread);
}

if (!isMainThread && parentPort && (workerData as DeliveryThreadData | null)?.prefix) void runThread(parentPort, workerData as DeliveryThreadData);
