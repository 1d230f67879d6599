import { expect } from 'chai';
import { runSimulate as simulate } from '../support/simulate';

/**
 * A Sentinel failover under traffic, with REDIS_WAIT_REPLICAS=1: three node processes on a
 * master and replica behind three sentinels, SFU clients sending batches all along; the
 * replica is cut off for a second (the master's writes of that second do not reach it), the
 * master SIGKILLed, the replica promoted. The batches of that second are answered 503, not
 * 200, so their retries apply them again on the new master: nothing lost, no call given up.
 */
describe('npm run simulate -- --redis sentinel --failover --lag 1 --wait-replicas 1', function () {
  this.timeout(150_000);

  it('a master SIGKILLed with its replica behind: lost, out of order and duplicates 0, every call acknowledged in the end', async () => {
    const { code, out } = await simulate([
      '--redis', 'sentinel', '--failover', '--lag', '1', '--wait-replicas', '1',
      '--rooms', '6', '--participants', '4', '--sfus', '3', '--die', '0', '--seconds', '15',
    ]);
    expect(out).to.match(/^failover: master SIGKILLed\s+127\.0\.0\.1:\d+ at [\d.]+ s \(its replica cut off 1,000 ms before\)$/m);
    expect(out).to.match(/^failover: replica promoted after\s+[\d,]+ ms/m);
    // the cut-off second: batches applied on the master only were refused, not acknowledged
    const refused = /^outage: requests answered 503 \/ network errors\s+([\d,]+) \//m.exec(out);
    expect(refused, out).to.not.equal(null);
    expect(Number(refused![1].replace(/,/g, ''))).to.be.greaterThan(0);
    expect(out).to.match(/^lost\s+0$/m);
    expect(out).to.match(/^out of order\s+0$/m);
    expect(out).to.match(/^duplicates\s+0$/m);
    expect(out).to.match(/^calls given up by the client \(rejected\)\s+0$/m);
    expect(out).to.match(/^participants with joined\/left matched\s+(\d+) \/ \1$/m);
    expect(code, out).to.equal(0);
  });
});
