/**
 * The node's background work on its own thread: coalescing a flush's stats and signing
 * webhooks are CPU work, and on the API's event loop they held requests up (bench:api:
 * p99 56 ms at 2,000 events/s in batches of 10 with a flush in the window, 13 ms
 * without). The thread runs its own Coordinator on the same Redis; the API thread runs
 * one that only takes requests.
 */
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import client from 'prom-client';
import type { Logger } from 'pino';
import type { Options } from '../config/options';
import { Coordinator } from '../coordinator';
import { registerJobMetrics } from '../http/metrics';
import { createLogger } from '../log';
import type { RedisTarget } from '../redis/connection';
import type { BackgroundJobs } from '../http/background-jobs';
import type { RunJob } from '../webhooks/lane-run';
import { SpareSlotFlags } from '../webhooks/spare-slots';

/** What the API thread resolved: the Redis it found or started, and its settings (QUEUE_SHARDS already the fleet's). */
interface ThreadData {
  redis: RedisTarget;
  options: Options;
  /** The memory of the SpareSlotFlags this thread's delivery publishes (WebhookDelivery.shareSpareSlots). */
  spareSlots?: SharedArrayBuffer;
}

type Request = { id: number; type: 'running' | 'metrics' | 'close' };
/** A webhook run the API thread's enqueue started, for this thread's delivery to send now (no answer). */
type InlineRun = { type: 'inline'; runId: string; run: RunJob; dropped: number; slotAt: number };
type Answer = { id: number; value: unknown } | { type: 'started' } | { type: 'failed'; message: string };

/** The API thread's side: starts the thread and speaks to it. */
export class JobsThread implements BackgroundJobs {
  private next = 0;
  private readonly waiting = new Map<number, (value: unknown) => void>();
  private closing = false;

  private constructor(private readonly worker: Worker, log: Logger, private readonly spareSlots: SpareSlotFlags) {
    worker.on('message', (m: Answer) => {
      if ('id' in m) {
        this.waiting.get(m.id)?.(m.value);
        this.waiting.delete(m.id);
      }
    });
    // a node whose background work died would take requests and never flush: stop it, so
    // its supervisor restarts it and the fleet's other nodes take the jobs meanwhile
    worker.on('exit', (code) => {
      if (this.closing) return;
      log.fatal({ code }, 'background jobs thread ended: stopping the node');
      process.exit(1);
    });
  }

  static async start(data: ThreadData, log: Logger): Promise<JobsThread> {
    // a thread does not inherit the TypeScript loader the process was started with
    const tsx = JSON.stringify(require.resolve('tsx/cjs'));
    const spareSlots = new SpareSlotFlags(data.options.webhooks.urls);
    const worker = new Worker(`require(${tsx}); require(${JSON.stringify(__filename)});`, { eval: true, workerData: { ...data, spareSlots: spareSlots.buffer } });
    await new Promise<void>((resolve, reject) => {
      const onMessage = (m: Answer) => {
        if (!('type' in m)) return;
        worker.off('message', onMessage);
        if (m.type === 'started') resolve(); else reject(new Error(m.type === 'failed' ? m.message : 'jobs thread failed'));
      };
      worker.on('message', onMessage);
      worker.once('error', reject);
    });
    return new JobsThread(worker, log, spareSlots);
  }

  private ask<T>(type: Request['type'], timeoutMs = 5000): Promise<T> {
    const id = ++this.next;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => { this.waiting.delete(id); reject(new Error(`jobs thread did not answer ${type}`)); }, timeoutMs);
      this.waiting.set(id, (v) => { clearTimeout(timer); resolve(v as T); });
      this.worker.postMessage({ id, type } satisfies Request);
    });
  }

  /** Hands a webhook run the API thread's enqueue started to this thread's delivery (inline-runs.ts). */
  runInline(runId: string, run: RunJob, dropped: number, slotAt: number): void {
    this.worker.postMessage({ type: 'inline', runId, run, dropped, slotAt } satisfies InlineRun);
  }

  /** Whether this thread's delivery holds a slot of `url` to spare: a run noted now need not take one. */
  spareSlot(url: string): boolean {
    return this.spareSlots.has(url);
  }

  running(): Promise<boolean> {
    return this.ask<boolean>('running').catch(() => false);
  }

  metricsJson() {
    return this.ask<Awaited<ReturnType<BackgroundJobs['metricsJson']>>>('metrics');
  }

  async close(): Promise<void> {
    this.closing = true;
    await this.ask('close', 60_000).catch(() => {});
    await this.worker.terminate();
  }
}

/** The thread's side: its own Coordinator, running the periodic work and webhook delivery. */
async function runThread(port: NonNullable<typeof parentPort>, data: ThreadData): Promise<void> {
  const { options } = data;
  // the format the API thread chose: this thread's stdout is never a terminal itself
  const log = createLogger(options.logLevel, { node: options.coordinatorId, thread: 'jobs' }, options.logFormat);
  const c = new Coordinator({ redis: data.redis, options, log, webhooks: options.webhooks });
  const registry = new client.Registry();
  registerJobMetrics(registry, c);
  try {
    await c.start();
    if (data.spareSlots) c.webhooks?.shareSpareSlots(new SpareSlotFlags(options.webhooks.urls, data.spareSlots));
  } catch (e) {
    port.postMessage({ type: 'failed', message: (e as Error).message } satisfies Answer);
    return;
  }
  port.on('message', async (m: Request | InlineRun) => {
    if (m.type === 'inline') {
      // no delivery here (no URLs): the run's deadline hands it to a job
      c.webhooks?.runInline(m.runId, m.run, m.dropped, m.slotAt);
      return;
    }
    let value: unknown = null;
    if (m.type === 'running') value = c.periodic.running && (c.webhooks ? c.webhooks.running : true);
    if (m.type === 'metrics') value = await registry.getMetricsAsJSON();
    if (m.type === 'close') await c.close();
    port.postMessage({ id: m.id, value } satisfies Answer);
  });
  port.postMessage({ type: 'started' } satisfies Answer);
}

if (!isMainThread && parentPort && (workerData as ThreadData | null)?.redis) void runThread(parentPort, workerData as ThreadData);
