import { KeySpace } from '../../lib/redis/keys';
import { useDeliveries } from '../support/deliveries';
import { usePrivateRedis } from '../support/redis';
import { TestReceiver } from './receiver';

// the delivery helpers live in test/support/ since other folders use them too
export { joined, useDeliveries } from '../support/deliveries';

/** A describe block's private Redis, its deliveries (keys prefixed `tc`) and one TestReceiver, started before its tests. */
export function useReceiverDeliveries() {
  const redis = usePrivateRedis();
  const keys = new KeySpace('tc', 4);
  const deliveries = useDeliveries(redis, keys);
  const rx = new TestReceiver();
  before(() => rx.start());
  after(() => rx.stop());
  return { redis, keys, deliveries, rx };
}

/** The numDropped of every verified delivery of these rooms, summed. */
export const numDroppedSeen = (rx: TestReceiver, rooms: string[]) =>
  rx.received.filter((e) => rooms.includes(e.room?.name ?? '')).reduce((sum, e) => sum + e.numDropped, 0);
