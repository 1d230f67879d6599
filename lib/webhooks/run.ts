import type { Logger } from 'pino';
import type { RedisClient } from '../redis/connection';
import type { KeySpace } from '../redis/keys';
import type { WebhookMetrics } from './metrics';
import type { WebhookOptions } from './options';
import type { LaneEvent, Receivers } from './receivers';

/*
 * What a lane's run is, apart from how it runs (lane-run.ts): the parts the run's limits and
 * breaker take, so that they and the run do not import each other.
 */

/** The BullMQ job of a lane's run: one per lane with events, named 'run'. */
export interface RunJob {
  lane: string;
  url: string;
  /** The event key (room, participant, ...) whose events the lane orders. */
  key: string;
  /** The event that started the run (delivery id and data), sent by its first pickup without a call to the lane. */
  head?: { id: string; data: string };
}

/** A slot of a URL's WEBHOOK_MAX_IN_FLIGHT: its lease among the URL's, and when the lease lapses (this node's clock, taken early). */
export interface Slot {
  lease: string;
  until: number;
}

/** What a run's progress says, for the dashboard. */
export interface RunProgress {
  /** Events in the lane, the one being sent included. */
  waiting: number;
  delivered: number;
  /** While the head waits for a retry: its attempts so far and how the last one failed. */
  attempts?: number;
  lastError?: string;
}

/**
 * One pickup of a lane's run, whoever runs it: a BullMQ job's (jobPickup), or an inline
 * run's on the node whose enqueue started the run (inline-runs.ts). The run's id is what
 * the lane names; the token fences this pickup against a later one.
 */
export interface Pickup {
  readonly runId: string;
  readonly token: string;
  readonly data: RunJob;
  /** The event that started the run, sent without asking the lane: only its first pickup has it. */
  readonly first?: { id: string; data: string };
  /** The URL's dead letters not yet reported, taken for it already (an inline run's, with its note). */
  readonly dropped?: number;
  /**
   * A slot of the URL held for it already (an inline run's: taken with its note, or handed
   * over by a run of this node that ended): it starts without asking for one (see sharesSlots).
   */
  readonly slot?: Slot;
  /**
   * Offered the pickup's slot as it ends (an inline run's): true if a run of this node
   * waiting for the URL takes it over, so it is not given back to Redis.
   */
  handOver?(slot: Slot): boolean;
  /** Not a BullMQ job: it never waits in Redis's queues for a slot (a hold hands it to a job). */
  readonly inline: boolean;
  /** Whether the pickup must hand its lane back after the event in hand (the node stops; an inline run used its time). */
  mustYield(): boolean;
  /** For the dashboard only. */
  progress(progress: RunProgress): void;
  /** The run comes back at `at` (epoch ms), its lane as it is now: always throws. */
  holdUntil(at: number): Promise<never>;
  /** The run goes back to the queue at once, for any node: always throws. */
  requeue(): Promise<never>;
}

export interface RunContext {
  redis: RedisClient;
  keys: KeySpace;
  opts: WebhookOptions;
  metrics: WebhookMetrics;
  log: Logger;
  receivers: Receivers;
  /** Keeps a given-up event as a dead letter (a failed BullMQ job of its own); idempotent. */
  keepDeadLetter(laneId: string, id: string, d: LaneEvent, reason: string, attempts: number): Promise<void>;
  /** The node is shutting down: runs hand their lanes back to the queue after the event in hand. */
  closing(): boolean;
  /** Runs held while their URL was paused go on now it resumed. */
  promoteHeld(runIds: string[]): Promise<void>;
}
