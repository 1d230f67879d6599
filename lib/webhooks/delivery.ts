import { createHash } from 'node:crypto';
import { WebhookEvent } from '@livekit/protocol';
import { UnrecoverableError, type Job, type Queue } from 'bullmq';
import type { Logger } from 'pino';
import { BullQueues } from '../jobs/bull-queues';
import { QueueShards } from '../jobs/queue-shards';
import type { RedisClient, RedisTarget } from '../redis/connection';
import type { KeySpace } from '../redis/keys';
import { newId } from '../ids';
import { eventKey } from './event-key';
import { INLINE_SLOTS, InlineRuns, inlineDeadline, isInlineRun, newInlineRunId } from './inline-runs';
import { jobPickup, LaneRetry, runLane, type RunContext, type RunJob } from './lane-run';
import { WebhookMetrics } from './metrics';
import type { WebhookNotifier } from '../telemetry/notifier';
import { wantsEvent, type WebhookOptions } from './options';
import { describeAttempt, Receivers, succeeded, type LaneEvent } from './receivers';
import { WebhookOperations } from './operations';
import type { SpareSlotFlags } from './spare-slots';
import { inlineSlotLease, sharesSlots } from './url-limits';
import { LaneAppends } from './lane-appends';

export { webhookUrlTag, type LaneEvent } from './receivers';
export type { RunJob, RunProgress } from './lane-run';

export const WEBHOOK_QUEUE = 'webhooks';

/**
 * Sends a run an enqueue started: the run's id, its job data, the URL's dead letters taken
 * for it to report, and when its slot of the URL was taken for it (0: none).
 */
export type InlineRunner = (runId: string, run: RunJob, dropped: number, slotAt: number) => void;

/** Whether the node sending an instance's inline runs holds a slot of `url` to spare (InlineRuns.spareFor). */
export type SpareSlot = (url: string) => boolean;
const noSpareSlot: SpareSlot = () => false;

/** Job names in the webhook queues. */
export const RUN = 'run';
export const DEAD_LETTER = 'dead-letter';
/** A job per event, as queued before lanes ran: still understood, so a fleet can be upgraded with events queued. */
const LEGACY_DELIVERY = 'deliver';

/** A dead letter: one event given up, a failed job whose id is its delivery id ('<event id>.<url index>'). */
export interface DeadLetterJob extends LaneEvent {
  deadLettered: true;
  reason: string;
  /** Attempts made before it was given up. */
  attempts: number;
}

/** What the webhook queues hold: runs and dead letters. */
export type DeliveryJob = RunJob | DeadLetterJob;

/** A run never runs out of BullMQ attempts: the lane counts each event's attempts itself. */
const RUN_ATTEMPTS = 1_000_000_000;
/**
 * A run stalls when its node dies (or its event loop stops past the lock), not because of
 * the job: BullMQ must not fail it for stalling. An event that keeps killing nodes runs
 * out of attempts in the lane instead.
 */
const RUN_MAX_STALLED = 1_000_000;

const sha = (s: string, n: number) => createHash('sha1').update(s).digest('hex').slice(0, n);

/** The lane of one (URL, event key): its id in KeySpace.webhookLane. */
export function webhookLaneId(url: string, key: string): string {
  return sha(`${url}\n${key}`, 20);
}

/**
 * Durable, ordered, signed webhook delivery on BullMQ.
 *
 * Each (URL, event key) is a *lane*: a FIFO of events in Redis. A lane with events has one
 * *run*: a BullMQ job ('run', its id named by the lane) that delivers the lane's events one
 * after another until the lane is empty; events queued meanwhile join it. The event that
 * finds its lane empty starts a new run (a new job id, so a finished run's job retained by
 * BullMQ is never mistaken for it). A failed attempt stops the run with the event still at
 * the head, and BullMQ retries the run after a capped exponential backoff; an event out of
 * attempts, refused for good or older than WEBHOOK_MAX_AGE becomes a dead letter: a
 * failed job of its own ('dead-letter', id '<event id>.<url index>'), retryable from the
 * dashboard, counted into the next delivery's `numDropped` for that URL; the lane goes on.
 * See lane-run.ts for what a run does when nodes die.
 *
 * With several queue shards (QUEUE_SHARDS), each lane's jobs live in one of them, picked by
 * the lane's id, so a cluster's masters share the deliveries.
 */
export class WebhookDelivery implements WebhookNotifier {
  readonly queues: BullQueues<DeliveryJob>;
  readonly metrics = new WebhookMetrics();
  private readonly receivers: Receivers;
  private readonly runs: RunContext;
  readonly operations: WebhookOperations;
  /** This node's inline runs (inline-runs.ts), while it delivers. */
  private readonly inline: InlineRuns;
  /**
   * Where a run started by this node's enqueue goes at once: this delivery's inline runs
   * once started, the jobs thread's under `npm start` (runInlineWith); none: a BullMQ job.
   */
  private inlineRunner: InlineRunner | null = null;
  private ownRunner = false;
  /** Whether the node sending this instance's inline runs holds a slot of `url` to spare (see InlineRuns.spareFor). */
  private spareSlot: SpareSlot = noSpareSlot;
  private stopping = false;
  /** Appends events to their lanes, one call for a lane's events of one tick. */
  private readonly appends: LaneAppends;

  constructor(
    private readonly redis: RedisClient,
    target: RedisTarget,
    private readonly keys: KeySpace,
    private readonly opts: WebhookOptions,
    private readonly log: Logger,
    shards: QueueShards = new QueueShards(keys.prefix, 1),
  ) {
    this.queues = new BullQueues<DeliveryJob>(WEBHOOK_QUEUE, shards, target, log);
    this.receivers = new Receivers(redis, keys, opts);
    this.appends = new LaneAppends(redis, keys, opts.dedupeWindowMs);
    this.operations = new WebhookOperations({
      redis, keys, opts, log, receivers: this.receivers, queueOf: (lane) => this.queueOf(lane),
      newRunId: (lane) => this.newRunId(lane), addRun: (runId, run) => this.addRun(runId, run),
    });
    this.runs = {
      redis, keys, opts, log, metrics: this.metrics, receivers: this.receivers,
      promoteHeld: (runIds) => this.operations.promoteHeld(runIds),
      keepDeadLetter: (laneId, id, d, reason, attempts) => this.keepDeadLetter(laneId, id, d, reason, attempts),
      closing: () => this.stopping,
    };
    this.inline = new InlineRuns({
      ctx: this.runs, log, maxRunning: INLINE_SLOTS,
      handOff: async (runId, run, delayMs) => { await this.handOff(runId, run, delayMs); },
    });
  }

  /**
   * Sends the runs this instance's enqueues start through `runner` (another thread's
   * delivery: its runInline), or as BullMQ jobs with null.
   */
  runInlineWith(runner: InlineRunner | null, spareSlot: SpareSlot = noSpareSlot): void {
    this.inlineRunner = runner;
    this.spareSlot = spareSlot;
    this.ownRunner = false;
  }

  /** Publishes in `flags`, for another instance's enqueues (runInlineWith), which URLs this one holds a slot of to spare. */
  shareSpareSlots(flags: SpareSlotFlags): void {
    this.inline.shareSpares(flags);
  }

  /** Sends a run another instance's enqueue started (runInlineWith): now, or as a job if this node has no room. */
  runInline(runId: string, run: RunJob, dropped = 0, slotAt = 0): void {
    this.inline.run(runId, run, dropped, slotAt);
  }

  /** The queue of queue shard 0 (the only one on a single Redis). */
  get queue(): Queue<DeliveryJob> {
    return this.queues.queue(0);
  }

  /** The queue holding a lane's jobs. */
  queueOf(laneId: string): Queue<DeliveryJob> {
    return this.queues.queue(this.queues.shards.shardOfName(laneId));
  }

  private readonly kept = () => ({ removeOnComplete: { age: 3600, count: 10_000 }, removeOnFail: { age: 7 * 86400, count: 50_000 } });

  async queueNotify(event: WebhookEvent): Promise<void> {
    if (!wantsEvent(this.opts, event.event)) return;
    if (!event.id) event.id = newId('EV_');
    const now = Date.now();
    const createdAtMs = event.createdAt ? Number(event.createdAt) * 1000 : now;
    if (!event.createdAt) event.createdAt = BigInt(Math.floor(now / 1000));
    if (this.opts.urls.length === 0) return;
    const body = event.toJsonString();
    const key = eventKey(event);
    await Promise.all(this.opts.urls.map((url, i) => {
      const lane = webhookLaneId(url, key);
      return this.enqueue(`${event.id}.${i}`, { lane, url, event: body, enqueuedAt: now, createdAtMs }, { lane, url, key });
    }));
  }

  private async enqueue(id: string, event: LaneEvent, run: RunJob): Promise<void> {
    const data = JSON.stringify(event);
    const runner = this.inlineRunner;
    const { position, runId, started, idleMs } = await this.appends.append(run.lane, id, data, () => (runner ? newInlineRunId(run.lane) : this.newRunId(run.lane)));
    if (started) {
      // at the head, the run can send it without asking the lane first
      const withHead = position === 0 ? { ...run, head: { id, data } } : run;
      if (!isInlineRun(runId)) {
        await this.addRun(runId, withHead);
        return;
      }
      // in Redis before the caller is answered: if this node dies, another takes the lane on.
      // Its slot comes in the same call (unless the node that sends it holds one of the URL to
      // spare), and the URL's dead letters for it to report
      const slot = sharesSlots(this.opts) && !this.spareSlot(run.url) ? inlineSlotLease(runId) : undefined;
      const askedAt = Date.now();
      const opened = await this.receivers.of(run.url).ledger.open({ inline: { laneId: run.lane, runId, deadline: inlineDeadline(this.opts.timeoutMs) }, slot, dropped: true });
      // an inline run id is made only when there is a runner; one stopped meanwhile hands the run to a job
      const sendTo = runner ?? this.inlineRunner;
      if (sendTo) sendTo(runId, withHead, opened.dropped, opened.slot ? askedAt : 0);
      else this.inline.run(runId, withHead, opened.dropped, opened.slot ? askedAt : 0);
      return;
    }
    // a caller queueing again may have died before adding the job (or noting its inline run);
    // a run that has not moved for long may have lost its job: make sure it is there
    if (runId && (position === -1 || idleMs >= this.opts.stuckRunMs)) await this.ensureRun(runId, run, idleMs);
  }

  private newRunId(laneId: string): string {
    return `${RUN}.${laneId}.${newId('')}`;
  }

  private async addRun(runId: string, run: RunJob, delayMs = 0): Promise<void> {
    await Promise.all([
      this.queueOf(run.lane).add(RUN, run, {
        jobId: runId, attempts: RUN_ATTEMPTS, backoff: { type: 'lane' }, ...(delayMs > 0 ? { delay: delayMs } : {}), ...this.kept(),
      }),
      this.receivers.of(run.url).status.noteLane(run.lane, runId),
    ]);
  }

  /** The lane names `runId` as its run: re-makes its job if it is gone, replaces it if it finished. */
  private async ensureRun(runId: string, run: RunJob, idleMs: number): Promise<void> {
    if (isInlineRun(runId)) {
      // noted already (kept as it is), or its node died before noting it: the sweep takes it on
      await this.receivers.of(run.url).ledger.open({ inline: { laneId: run.lane, runId, deadline: inlineDeadline(this.opts.timeoutMs, Date.now() - idleMs) } });
      return;
    }
    const state = await this.queueOf(run.lane).getJobState(runId);
    if (state === 'unknown') await this.addRun(runId, run);
    else if (state === 'completed' || state === 'failed') await this.restartRun(runId, run);
  }

  /** Gives the lane a new run if it still names `finishedRunId` ('' = none): one node does. */
  private async restartRun(finishedRunId: string, run: RunJob): Promise<void> {
    const runId = await this.handOff(finishedRunId, run, 0);
    if (runId) this.log.warn({ lane: run.lane, url: run.url, key: run.key, finished: finishedRunId || null, run: runId }, 'webhook lane given a new run');
  }

  /**
   * Gives the lane a BullMQ run job due in `delayMs` in place of run `fromRunId` (one that
   * finished without emptying it, an inline run handing on, or one whose node died), if the
   * lane still names it and has events: of several nodes asking, one does. Returns the new
   * run's id, or null.
   */
  private async handOff(fromRunId: string, { lane: laneId, url, key }: RunJob, delayMs: number): Promise<string | null> {
    const lane = this.keys.webhookLane(laneId);
    const runId = this.newRunId(laneId);
    const [restarted] = (await this.redis.advanceWebhookLane(lane.fifo, lane.events, lane.run, fromRunId, runId, 'restart', 0)) as [number];
    // not the old run's head: the new run starts from the lane as it is now
    if (restarted === 1) {
      await this.addRun(runId, { lane: laneId, url, key }, delayMs);
      return runId;
    }
    // drained meanwhile (or never had events): off the URL's lanes with work, if still its entry
    await this.receivers.of(url).ledger.settle({ drained: { laneId, runId: fromRunId } });
    return null;
  }

  private async keepDeadLetter(laneId: string, id: string, d: LaneEvent, reason: string, attempts: number): Promise<void> {
    const data: DeadLetterJob = { ...d, deadLettered: true, reason, attempts };
    await Promise.all([
      this.queueOf(laneId).add(DEAD_LETTER, data, { jobId: id, attempts: 1, ...this.kept() }),
      this.receivers.of(d.url).status.noteDeadLetter(laneId, id),
    ]);
  }

  /** Starts delivering on this node. */
  async start(opts: { concurrency?: number; lockDurationMs?: number } = {}): Promise<void> {
    const lockDuration = opts.lockDurationMs ?? 30_000;
    this.stopping = false;
    if (!this.inlineRunner) {
      this.inlineRunner = (runId, run, dropped, slotAt) => this.runInline(runId, run, dropped, slotAt);
      this.spareSlot = (url) => this.inline.spareFor(url);
      this.ownRunner = true;
    }
    this.inline.startSweeping(this.opts.urls);
    const workers = this.queues.start((job, token) => this.process(job, token), {
      concurrency: opts.concurrency ?? 100,
      lockDuration,
      stalledInterval: Math.max(500, Math.floor(lockDuration / 2)),
      maxStalledCount: RUN_MAX_STALLED,
      settings: {
        // a run's retry waits as long as its head's attempts ask for; a run cut short by
        // something else (Redis unreachable mid-run) starts again soon: the run's own count
        // of failures says nothing about its head
        backoffStrategy: (_attemptsMade: number, _type?: string, err?: Error) =>
          (err instanceof LaneRetry ? err.delayMs : this.opts.baseBackoffMs),
      },
    });
    for (const w of workers) {
      w.on('failed', (job, err) => {
        if (job?.name === RUN && !(err instanceof LaneRetry)) {
          this.recoverRun(job as Job<RunJob>).catch((e) => this.log.error({ err: e, job: job.id }, 'webhook run not recovered'));
        }
      });
    }
  }

  /** A run that failed for good (BullMQ failing it for stalling, from nodes with other settings) leaves its lane to a new run. */
  private async recoverRun(job: Job<RunJob>): Promise<void> {
    if ((await job.getState()) === 'failed') await this.restartRun(job.id!, job.data);
  }

  get running(): boolean {
    return this.queues.running;
  }

  private async process(job: Job<DeliveryJob>, token?: string): Promise<string> {
    if (job.name === RUN) return runLane(this.runs, jobPickup(job as Job<RunJob>, token!, () => this.stopping));
    const d = job.data as DeadLetterJob;
    if (job.name === LEGACY_DELIVERY && !d.deadLettered) {
      // an event queued with a job of its own: its lane gets a run, which delivers it in turn
      const lane = this.keys.webhookLane(d.lane);
      if ((await this.redis.exists(lane.run)) === 1) return 'left to its lane\'s run';
      await this.restartRun('', { lane: d.lane, url: d.url, key: '(queued before runs)' });
      return 'handed to a run of its lane';
    }
    // a dead letter: failed at once, as the dashboard shows it; sent (out of turn) when retried from there
    if (job.name === DEAD_LETTER && job.attemptsMade === 0) throw new UnrecoverableError(d.reason);
    const result = await this.receivers.of(d.url).post(d, 0);
    if (!succeeded(result)) throw new Error(describeAttempt(result));
    this.metrics.recordDelivery(Date.now() - d.enqueuedAt);
    return 'delivered (retried dead letter)';
  }

  /** Stops delivering here: each run hands its lane back to the queue after the event in hand. */
  async close(): Promise<void> {
    this.stopping = true;
    if (this.ownRunner) this.runInlineWith(null);
    // inline runs hand their lanes to jobs, which other nodes take: this node's workers stop
    // taking jobs first, and the queues stay open until the inline runs have handed on
    await Promise.all([this.queues.closeWorkers(), this.inline.close()]);
    // what the runs left with their URLs, waiting for its window, goes now
    await this.receivers.drain();
    await this.queues.close();
  }
}
