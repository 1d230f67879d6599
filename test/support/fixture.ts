import { randomBytes } from 'node:crypto';
import type { PartialMessage } from '@bufbuild/protobuf';
import { ParticipantInfo, Room } from '@livekit/protocol';

/**
 * This run's tag, in every id the fixture makes: ids of two runs never meet, even in a
 * Redis that outlived the first run (as BullMQ's tests name their queues at random).
 */
export const RUN = randomBytes(2).toString('hex');

let made = 0;

/** `<label>-<run>-<n>`: a new n on every call in this process, so no two calls share an id. */
function tag(label: string): string {
  made += 1;
  return `${label ? `${label}-` : ''}${RUN}-${made}`;
}

/**
 * Ids of rooms, participants and SFU nodes for one test, in place of counters and shared
 * literals (LiveKit's `createFixture`): every call gives an id no other call of this run
 * gives, so tests sharing a Redis never meet in its keys, and what a failure prints says
 * what the id is (`RM_`, `PA_`, `sfu-`, the label a test gave) and which call made it.
 * Only url- and key-safe characters: letters, digits, '-' and '_'.
 *
 * A test that needs two distinct nodes asks twice; one that pins an id's formula, or
 * needs an id of a known sort order or hash slot, keeps its literal.
 */
export const ids = {
  /** A room sid: `RM_<label>-<run>-<n>`. */
  room: (label = ''): string => `RM_${tag(label)}`,
  /** A participant sid: `PA_<label>-<run>-<n>`. */
  participant: (label = ''): string => `PA_${tag(label)}`,
  /** An SFU node id: `sfu-<label>-<run>-<n>`. */
  node: (label = ''): string => `sfu-${tag(label)}`,
  /** Any other id (a track's `TR_`, an egress's `EG_`, an event id): `<prefix><label>-<run>-<n>`. */
  of: (prefix: string, label = ''): string => `${prefix}${tag(label)}`,
  /** A LiveKit Room whose sid and name share one tag: `RM_<label>-<run>-<n>`, `<label>-<run>-<n>`. */
  roomInfo(label = 'room', extra: PartialMessage<Room> = {}): Room {
    const t = tag(label);
    return new Room({ sid: `RM_${t}`, name: t, ...extra });
  },
  /** A LiveKit ParticipantInfo whose sid and identity share one tag: `PA_<label>-<run>-<n>`, `<label>-<run>-<n>`. */
  participantInfo(label = 'alice', extra: PartialMessage<ParticipantInfo> = {}): ParticipantInfo {
    const t = tag(label);
    return new ParticipantInfo({ sid: `PA_${t}`, identity: t, ...extra });
  },
};

export type Ids = typeof ids;
