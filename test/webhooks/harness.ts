import type { TestReceiver } from './receiver';

// the delivery helpers live in test/support/ since other folders use them too
export { joined, useDeliveries } from '../support/deliveries';

/** The numDropped of every verified delivery of these rooms, summed. */
export const numDroppedSeen = (rx: TestReceiver, rooms: string[]) =>
  rx.received.filter((e) => rooms.includes(e.room?.name ?? '')).reduce((sum, e) => sum + e.numDropped, 0);
