/** Identifies a participant's stats worker: one per (room sid, participant sid). */
export interface WorkerRef {
  roomId: string;
  participantId: string;
}

export interface OpenRequest extends WorkerRef {
  roomName: string;
  identity: string;
  /** Last ParticipantInfo seen, as protobuf JSON; kept so the fleet can speak for a dead node. */
  info?: string;
  /** Connection reference to hold; absent = no reference change (participantResumed). */
  guard?: string;
  /** SFU node that owns the guard; required with a guard. */
  nodeId?: string;
  /** Also mark it connected, in the same step (participantActive). */
  connect?: boolean;
}

export type OpenOutcome = 'open' | 'created' | 'reopened';

export interface OpenResult {
  outcome: OpenOutcome;
  generation: number;
  connected: boolean;
  refCount: number;
}

export interface ReleaseRequest extends WorkerRef {
  guard?: string;
  info?: string;
  /** The Room (protobuf JSON) the leave is reported with, kept in the leave outbox. */
  room?: string;
  /** The caller asked for events (shouldSendEvent): raise the leave if not raised yet. */
  raiseLeave?: boolean;
}

export interface ReleaseResult {
  found: boolean;
  /** `connected` as the release saw it: participant_left if true, else connection_aborted. */
  wasConnected: boolean;
  /** This release closed the worker (it held the last guard). */
  closed: boolean;
  /**
   * The id of the leave this call raised (the one leave of this generation, now in the
   * outbox: relay it, then ack it), or null.
   */
  leaveId: string | null;
  generation: number;
}

export interface Guard {
  guard: string;
  nodeId: string;
}

/** A participant's stats worker as stored (LiveKit's StatsWorker). */
export interface StatsWorker extends WorkerRef {
  roomName: string;
  identity: string;
  info: string | null;
  guards: Guard[];
  refCount: number;
  connected: boolean;
  /** Unix ms when the last guard was released; null while open. */
  closedAt: number | null;
  generation: number;
  createdAt: number;
  leaveRaised: boolean;
}

/** A worker due for reaping, as listed. */
export interface DueWorker extends WorkerRef {
  generation: number;
  /** The node indexes that name the worker, as listed: the reap removes it from them. */
  nodes: string[];
}

/** A worker that a dead (or departed) node's guards held open, now closed. */
export interface OrphanedWorker extends WorkerRef {
  generation: number;
  wasConnected: boolean;
  /** The leave its closing raised, now in the outbox; null if this generation's leave was raised before. */
  leave: LeaveRecord | null;
}

export interface LapsedNode {
  nodeId: string;
  /** Last heard from (Redis ms); if it changes during the expiry the node keeps its lease. */
  lastSeen: number;
  /** When the lapse was found (Redis ms): guards held then are released, later ones kept. */
  cutoff: number;
}

/**
 * A leave decided by the registry (one per worker generation) and kept in its shard's
 * outbox until it is relayed: what pendingLeaves lists and a node's expiry raises.
 */
export interface LeaveRecord extends WorkerRef {
  /**
   * Its id, as the script that recorded it made it (lua/includes/leaves.lua): its key in the
   * outbox, and the seed of its webhook and analytics event ids.
   */
  id: string;
  generation: number;
  wasConnected: boolean;
  /** Room protobuf JSON given with the leave ('' when a node expiry raised it). */
  room: string;
  /** Last ParticipantInfo protobuf JSON seen ('' if none). */
  info: string;
  roomName: string;
  identity: string;
  /** Unix ms when it was recorded. */
  at: number;
}

/** The fleet's workers, summed over the shards. */
export interface WorkerCounts {
  /** Workers that exist: open, or closed and not yet reaped. */
  workers: number;
  closed: number;
  open: number;
}
