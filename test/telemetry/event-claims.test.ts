import { expect } from 'chai';
import { KeySpace } from '../../lib/redis/keys';
import { EventClaims, RetryableError } from '../../lib/telemetry/event-claims';
import { ids } from '../support/fixture';
import { usePrivateRedis } from '../support/redis';

/**
 * Event ids are claimed before a batch is applied. The request applying it keeps its claims
 * alive however long it takes; a request that died lets them lapse within the lease, and
 * the retry takes over instead of waiting out a long fixed hold.
 */
describe('event id claims', function () {
  this.timeout(20_000);
  const redis = usePrivateRedis();
  const claimsOf = () => new EventClaims(redis.client(), new KeySpace('tc', 4), { windowMs: 60_000, leaseMs: 300, waitMs: 2000 });
  // event ids are per SFU node: each test's node has claims of its own
  let node: string;
  beforeEach(() => { node = ids.node(); });

  it('a copy waits for the first request and is then answered as applied', async () => {
    const claims = claimsOf();
    expect(await claims.claim(node, ['e1', 'e2'], 'first')).to.deep.equal([true, true]);
    const copy = claims.claim(node, ['e1', 'e2'], 'copy');
    await new Promise((r) => setTimeout(r, 100));
    await claims.done(node, ['e1', 'e2'], 'first');
    expect(await copy).to.deep.equal([false, false]);
  });

  it('claims held while the batch is applied, past several leases; nobody takes them over', async () => {
    const claims = claimsOf();
    await claims.claim(node, ['e1'], 'slow');
    const copy = claims.claim(node, ['e1'], 'copy').catch((e) => e as Error);
    await claims.holding(node, ['e1'], 'slow', () => new Promise((r) => setTimeout(r, 1200)));
    await claims.done(node, ['e1'], 'slow');
    expect(await copy).to.deep.equal([false]);
  });

  it('a request that died lets its claims lapse within the lease: the retry applies them', async () => {
    const claims = claimsOf();
    await claims.claim(node, ['e1', 'e2'], 'dead');
    // within the copy's wait (2 s), so it applies them rather than answering 503
    expect(await claims.claim(node, ['e1', 'e2', 'e3'], 'retry')).to.deep.equal([true, true, true]);
  });

  it('a copy that cannot get the claims in time is told to retry (503), not refused', async () => {
    const claims = claimsOf();
    await claims.claim(node, ['e1'], 'slow');
    const held = claims.holding(node, ['e1'], 'slow', () => new Promise((r) => setTimeout(r, 3000)));
    const err = await claims.claim(node, ['e1'], 'copy').catch((e) => e as Error);
    expect(err).to.be.instanceOf(RetryableError);
    await held;
  });
});
