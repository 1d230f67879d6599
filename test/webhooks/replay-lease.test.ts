import { expect } from 'chai';
import { KeySpace } from '../../lib/redis/keys';
import { until, usePrivateRedis } from '../support/redis';

/**
 * The lease of a URL's dead-letter replay (lua/leaseWebhookReplay-1.lua): one replay of a URL
 * at a time, fleet-wide; only its holder renews or ends it; it expires by itself.
 */
describe('webhook replay lease', function () {
  this.timeout(90_000);
  const redis = usePrivateRedis();
  let url = 0;
  const lease = async (key: string, mode: string, token: string, ms = 30_000) =>
    (await redis.client().leaseWebhookReplay(key, mode, token, ms)) as [number, number];

  it('is held by one replay: another is refused with the time left, and cannot renew or end it', async () => {
    const key = new KeySpace('lease', 4).webhookUrl(`u${++url}`).replay;
    expect(await lease(key, 'take', 'RP_a')).to.deep.equal([1, 0]);
    const [held, leftMs] = await lease(key, 'take', 'RP_b');
    expect(held).to.equal(0);
    expect(leftMs).to.be.greaterThan(0).and.at.most(30_000);
    expect((await lease(key, 'renew', 'RP_b'))[0]).to.equal(0);
    expect((await lease(key, 'end', 'RP_b'))[0]).to.equal(0);
    expect(await redis.client().get(key)).to.equal('RP_a');
    // its holder renews and ends it; then the other takes it
    expect(await lease(key, 'renew', 'RP_a', 60_000)).to.deep.equal([1, 0]);
    expect(await redis.client().pttl(key)).to.be.greaterThan(30_000);
    expect(await lease(key, 'end', 'RP_a')).to.deep.equal([1, 0]);
    expect(await redis.client().exists(key)).to.equal(0);
    expect(await lease(key, 'take', 'RP_b')).to.deep.equal([1, 0]);
    // ended twice, or renewed once ended: nothing changes
    expect(await lease(key, 'end', 'RP_b')).to.deep.equal([1, 0]);
    expect((await lease(key, 'end', 'RP_b'))[0]).to.equal(0);
    expect((await lease(key, 'renew', 'RP_b'))[0]).to.equal(0);
    expect(await redis.client().exists(key)).to.equal(0);
  });

  it('expires by itself (a node that died mid-replay), and then another replay takes it; its holder can no longer renew it', async () => {
    const key = new KeySpace('lease', 4).webhookUrl(`u${++url}`).replay;
    expect(await lease(key, 'take', 'RP_dead', 200)).to.deep.equal([1, 0]);
    await until(async () => (await lease(key, 'take', 'RP_next'))[0] === 1, 'the lease to expire and be taken');
    expect((await lease(key, 'renew', 'RP_dead'))[0]).to.equal(0);
    expect(await redis.client().get(key)).to.equal('RP_next');
  });
});
