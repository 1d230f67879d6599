import type { RedisClient } from '../redis/connection';
import type { KeySpace } from '../redis/keys';
import { Batcher } from './batcher';
import { leaseMs } from './local-slots';
import type { WebhookOptions } from './options';
import { LATENCY_SAMPLES } from './url-status';
import { webhookUrlTag } from '../webhook-url';

/**
 * What the runs of a node settle with a URL within this many ms goes as one call: nothing
 * waits on it (a run ends without it), and a lane leaves the URL's lanes with work that much
 * later. A slot given back goes at once, with what waits; an inline run's slot first stays
 * this long with its node, for the node's next run of the URL (inline-runs.ts).
 */
export const SETTLE_WINDOW_MS = 20;

/** What a run opening asks of its URL (any part may be left out). */
export interface Opening {
  /** An inline run to note: its lane's run in the URL's lanes with work, and with its deadline in the URL's inline runs. */
  inline?: { laneId: string; runId: string; deadline: number };
  /** A slot of the URL's WEBHOOK_MAX_IN_FLIGHT for this lease ('<run id>:<token>'). */
  slot?: string;
  /** Take the URL's dead letters not yet reported, for the run to report. */
  dropped?: boolean;
}

export interface Opened {
  /** Dead letters taken to report (0 when not asked). */
  dropped: number;
  /** Whether the slot asked for was taken. */
  slot: boolean;
}

/** What a run leaves with its URL as it ends or moves on (any part may be left out). */
export interface Settling {
  /** Latencies (ms) of deliveries that succeeded. */
  latencies?: number[];
  /** The lane the run drained: off the URL's lanes with work if the entry still names the run, and the run off the inline runs. */
  drained?: { laneId: string; runId: string };
  /** The lease of a slot given back. */
  slot?: string;
  /** Dead letters taken to report and not reported after all. */
  dropped?: number;
}

export interface Settled {
  /** The URL resumed with these latencies, and the runs held while it was paused (to promote). */
  resumed: boolean;
  held: string[];
  /** Runs waiting for a slot that may go now (to promote). */
  woken: string[];
}

/**
 * One URL's runs opening and settling, as this node records them in Redis
 * (lua/openWebhookRuns-4.lua, lua/settleWebhookRuns-9.lua). Under load many runs of one URL
 * start and end at the same moment, and a run ending has several things to record (its
 * latencies, its drained lane, its slot, the dead letters it did not report): what is asked
 * within one turn of the event loop goes to Redis as one call, since each call costs a
 * node more CPU than the work it carries.
 */
export class RunLedger {
  private readonly keys: {
    status: string; latency: string; probe: string; held: string; lanes: string; inline: string; dropped: string; leases: string; waiting: string;
  };

  constructor(url: string, private readonly redis: RedisClient, keySpace: KeySpace, private readonly opts: WebhookOptions) {
    const tag = webhookUrlTag(url);
    const { status, latency, probe, held, lanes, inline } = keySpace.webhookUrl(tag);
    const { leases, waiting } = keySpace.webhookUrlLimits(tag);
    this.keys = { status, latency, probe, held, lanes, inline, dropped: keySpace.webhookDropped(tag), leases, waiting };
  }

  open(opening: Opening): Promise<Opened> {
    return this.openings.add(opening);
  }

  /** Within SETTLE_WINDOW_MS, or at once with a slot given back. */
  settle(settling: Settling): Promise<Settled> {
    return this.settlings.add(settling, settling.slot !== undefined);
  }

  /** The dead letters taken go to the first run that asked for them. */
  private readonly openings = new Batcher<Opening, Opened>(async (openings) => {
    const k = this.keys;
    const taker = openings.findIndex((o) => o.dropped);
    const runs = openings.flatMap((o) => [o.inline?.laneId ?? '', o.inline?.runId ?? '', o.inline?.deadline ?? 0, o.slot ?? '']);
    const reply = (await this.redis.openWebhookRuns(
      k.lanes, k.inline, k.dropped, k.leases, this.opts.maxInFlight, leaseMs(this.opts.timeoutMs), taker >= 0 ? 1 : 0, ...runs,
    )) as number[];
    const dropped = Number(reply[0]);
    return openings.map((_, i) => ({ dropped: i === taker ? dropped : 0, slot: reply[i + 1] === 1 }));
  });

  /** What the call changed goes to one run each: a resume to the first with latencies, the woken runs to the first giving a slot back. */
  private readonly settlings = new Batcher<Settling, Settled>(async (settlings) => {
    const k = this.keys;
    const latencies = settlings.flatMap((s) => (s.latencies ?? []).map((ms) => Math.round(ms)));
    const drained = settlings.flatMap((s) => (s.drained ? [s.drained.laneId, s.drained.runId] : []));
    const slots = settlings.flatMap((s) => (s.slot ? [s.slot] : []));
    const putBack = settlings.reduce((n, s) => n + (s.dropped ?? 0), 0);
    const reply = (await this.redis.settleWebhookRuns(
      k.status, k.latency, k.probe, k.held, k.lanes, k.inline, k.dropped, k.leases, k.waiting,
      LATENCY_SAMPLES, this.opts.maxInFlight, putBack, latencies.length, drained.length / 2, ...latencies, ...drained, ...slots,
    )) as (number | string)[];
    const heldCount = Number(reply[1]);
    const held = reply.slice(2, 2 + heldCount).map(String);
    const woken = reply.slice(2 + heldCount).map(String);
    const recorder = settlings.findIndex((s) => (s.latencies?.length ?? 0) > 0);
    const giver = settlings.findIndex((s) => s.slot);
    return settlings.map((_, i) => ({ resumed: i === recorder && reply[0] === 1, held: i === recorder ? held : [], woken: i === giver ? woken : [] }));
  }, SETTLE_WINDOW_MS);

  /** What waits for its window goes now; resolves once this node's calls to the URL have ended. */
  async drain(): Promise<void> {
    await Promise.all([this.openings.drain(), this.settlings.drain()]);
  }
}
