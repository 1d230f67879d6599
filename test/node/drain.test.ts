import { expect } from 'chai';
import { PrivateRedis, freePort } from '../../lib/redis/server';
import { startHttpNode, stopNodeProcess } from '../support/processes';
import { until } from '../support/redis';

/**
 * A node whose Redis went away still exits on SIGTERM, within DRAIN_TIMEOUT, saying what it
 * left to the other nodes, with a non-zero code: a supervisor must not wait on Redis.
 */
describe('SIGTERM', function () {
  this.timeout(60_000);

  it('while Redis is gone: the drain ends within DRAIN_TIMEOUT, logs what it left and exits 1', async () => {
    const redis = await PrivateRedis.start();
    const output: string[] = [];
    const node = await startHttpNode({ PORT: String(await freePort()), REDIS_URL: redis.url, DRAIN_TIMEOUT: '2s', LOG_LEVEL: 'info' }, { output });
    try {
      await redis.kill();
      node.kill('SIGTERM');
      await until(() => node.exitCode !== null || node.signalCode !== null, 'the node to exit', 20_000);
      expect(node.exitCode).to.equal(1);
      const text = await until(() => { const t = output.join(''); return t.includes('drain timed out') ? t : ''; }, 'the drain timeout line');
      expect(text).to.match(/"left":"[^"]+"/);
    } finally {
      await stopNodeProcess(node, 'SIGKILL');
      await redis.stop();
    }
  });

  it('a SIGTERM the moment the node says it is ready is drained, not fatal (5 rounds)', async () => {
    // it used to say 'ready' before its handlers were in place: a busy machine descheduled
    // it in between, the SIGTERM came, and the node died of the signal (3 times in 15 under load)
    const redis = await PrivateRedis.start();
    try {
      for (let round = 0; round < 5; round++) {
        const node = await startHttpNode({ PORT: String(await freePort()), REDIS_URL: redis.url, DRAIN_TIMEOUT: '10s' });
        node.kill('SIGTERM');
        await until(() => node.exitCode !== null || node.signalCode !== null, 'the node to exit', 20_000);
        expect([node.exitCode, node.signalCode], `round ${round}`).to.deep.equal([0, null]);
      }
    } finally {
      await redis.stop();
    }
  });
});
