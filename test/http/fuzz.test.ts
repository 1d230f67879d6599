import { expect } from 'chai';
import fc from 'fast-check';
import { useApiNode } from '../support/api-node';
import { describeCase, fuzzCase, mutate } from '../support/fuzz-batches';
import { rejectedStats } from '../support/streams';

/**
 * Property: whatever an SFU sends, the answer is 200 or 4xx, never 5xx; after a 4xx
 * nothing in Redis changed and no webhook was raised; after a 200 the next flush succeeds
 * and sets nothing aside but what LiveKit itself skips. 1,000 random cases per run (a
 * failure prints fast-check's seed and the shrunk counterexample).
 */
describe('POST /v1/telemetry: property-based (fast-check), 1,000 batches valid and mutated', function () {
  this.timeout(300_000);
  const node = useApiNode();

  it('answers 200 or 4xx; a 4xx changes nothing; a 200 flushes', async () => {
    const statuses = new Map<number, number>();
    let cases = 0;
    await fc.assert(fc.asyncProperty(fuzzCase, async (c) => {
      // the digest reads the whole dataset: kept small, so a case costs the same all run long
      if (++cases % 50 === 0) await node.redis.flushAll(node.admin);
      const body = mutate(c.batch, c.mutations);
      const before = await node.snapshot();
      const webhooks = node.notifier.events.length;
      const res = await node.post(body);
      statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
      expect(res.status, `${res.status} ${JSON.stringify(res.body)}`).to.be.oneOf([200, 400, 413]);
      if (res.status !== 200) {
        expect(await node.snapshot(), 'Redis after a 4xx').to.equal(before);
        expect(node.notifier.events.length, 'webhooks after a 4xx').to.equal(webhooks);
        return;
      }
      await node.coordinator.service.flushStats();
      for (const { reason } of await rejectedStats(node.admin)) expect(reason, 'a stat set aside').to.match(/wrapped/);
    }), { numRuns: Number(process.env.FUZZ_RUNS ?? 1000), reporter: (out) => { if (out.failed) throw new Error(`${fc.defaultReportMessage(out)}\n${out.counterexample ? describeCase(out.counterexample[0]) : ''}`); } });
    // both kinds of answer were exercised
    expect(statuses.get(200) ?? 0, JSON.stringify([...statuses])).to.be.above(100);
    expect(statuses.get(400) ?? 0, JSON.stringify([...statuses])).to.be.above(300);
  });
});
