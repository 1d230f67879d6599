import { expect } from 'chai';
import { TEST_REDIS } from '../support/redis';
import { runSimulate } from '../support/simulate';

/** `npm run simulate -- <args>`, on a local cluster under TEST_REDIS=cluster. */
function simulate(args: string[]) {
  // --chaos kills and restarts its one redis-server: it runs on one whatever TEST_REDIS says
  const topology = TEST_REDIS === 'cluster' && !args.includes('--chaos') ? ['--redis', 'cluster'] : [];
  return runSimulate([...topology, ...args]);
}

/** `npm run simulate`, small: a healthy fleet loses nothing, reorders nothing, repeats nothing. */
describe('npm run simulate', function () {
  this.timeout(120_000);

  it('3 coordinator nodes, SFU nodes resuming, aborting and one dying: lost, out of order and duplicates are 0', async () => {
    const { code, out } = await simulate(['--rooms', '6', '--participants', '4', '--sfus', '3', '--die', '1', '--seconds', '10', '--resume', '0.3', '--abort', '0.2']);
    expect(out).to.match(/^lost\s+0$/m);
    expect(out).to.match(/^out of order\s+0$/m);
    expect(out).to.match(/^duplicates\s+0$/m);
    expect(out).to.match(/^participants with joined\/left matched\s+(\d+) \/ \1$/m);
    expect(out).to.match(/^SFU nodes \(died without a word\)\s+3 \(1\)$/m);
    expect(code, out).to.equal(0);
  });

  it('--chaos: a coordinator node and the redis-server SIGKILLed and restarted, batches sent twice, malformed events: still 0 lost, out of order, duplicates', async () => {
    const { code, out } = await simulate(['--chaos', '--rooms', '6', '--participants', '4', '--sfus', '3', '--die', '1', '--seconds', '15']);
    expect(out).to.match(/^lost\s+0$/m);
    expect(out).to.match(/^out of order\s+0$/m);
    expect(out).to.match(/^duplicates\s+0$/m);
    expect(out).to.match(/^redelivered \(same id\)\s+\d+$/m);
    expect(out).to.match(/^unexpected\s+0$/m);
    expect(out).to.match(/^calls given up by the client \(rejected\)\s+0$/m);
    expect(out).to.match(/^participants with joined\/left matched\s+(\d+) \/ \1$/m);
    // each fault, injected once, at the moment the line gives
    expect(out).to.match(/^chaos: redis-server SIGKILLed and restarted at\s+[\d.]+ s \(outage [\d,]+ ms\)$/m);
    expect(out).to.match(/^chaos: coordinator node SIGKILLed and restarted at\s+[\d.]+ s \(:\d+, down [\d,]+ ms\)$/m);
    const twice = /^chaos: batches sent twice at once to two nodes\s+(\d+)/m.exec(out);
    expect(twice, out).to.not.equal(null);
    expect(Number(twice![1])).to.be.greaterThan(0);
    // every malformed request refused with a 4xx (the buggy SFU sends 8)
    expect(out).to.match(/^chaos: malformed requests \(answered 4xx\)\s+8 \/ 8$/m);
    expect(out).to.match(/^coordinator nodes that exited by themselves\s+0$/m);
    expect(out).to.match(/^healthy: .*through the faults$/m);
    expect(code, out).to.equal(0);
  });
});
