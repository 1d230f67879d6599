import { expect } from 'chai';
import type { ChainableCommander } from 'ioredis';
import { createRedis } from '../../lib/redis/connection';
import { SCRIPT_NAMES, type ScriptCommands } from '../../lib/redis/scripts';
import { usePrivateRedis } from '../support/redis';

/** A pipeline of a client, with the script commands (which ioredis's types leave out). */
const withScripts = (p: ChainableCommander) => p as ChainableCommander & ScriptCommands;

// the script commands are shared by every pipeline rather than copied onto each (scripts.ts):
// what a caller sees must not change, auto-pipelined or in a pipeline of its own, on any client
describe('script commands in pipelines', () => {
  const redis = usePrivateRedis();
  const leases = '{nodes}:seen';

  it('every script is a command of a client and of its pipelines, and none is copied onto a pipeline', () => {
    const client = redis.client() as unknown as Record<string, unknown>;
    const pipeline = redis.client().pipeline() as unknown as Record<string, unknown>;
    for (const name of SCRIPT_NAMES) {
      expect(client[name], name).to.be.a('function');
      expect(pipeline[name], name).to.be.a('function');
    }
    expect(Object.keys(pipeline).filter((k) => (SCRIPT_NAMES as readonly string[]).includes(k))).to.deep.equal([]);
  });

  it('a script runs auto-pipelined and in a pipeline of its own, on each of several clients', async () => {
    const [a, b] = [redis.client(), redis.client()];
    const together = await Promise.all([a.touchNode(leases, 'n1'), b.touchNode(leases, 'n2'), a.touchNode(leases, 'n3')]);
    for (const at of together) expect(Number(at)).to.be.greaterThan(0);
    const pipeline = withScripts(b.pipeline());
    pipeline.touchNode(leases, 'n4');
    const replies = await pipeline.zscore(leases, 'n4').exec();
    expect(replies!.map(([err]) => err)).to.deep.equal([null, null]);
    expect(Number(replies![1][1])).to.equal(Number(replies![0][1]));
    expect((await a.zrange(leases, 0, -1)).sort()).to.deep.equal(['n1', 'n2', 'n3', 'n4']);
  });
});

describe('script commands in pipelines, after the server forgot the scripts', () => {
  const redis = usePrivateRedis({ standalone: true });

  it('a pipeline re-sends the source of a script the server forgot (SCRIPT FLUSH), for each client', async () => {
    const [a, b] = [redis.client(), redis.client()];
    await Promise.all([a.touchNode('seen', 'n1'), b.touchNode('seen', 'n2')]);
    await a.script('FLUSH');
    for (const [client, node] of [[a, 'n3'], [b, 'n4']] as const) {
      const pipeline = withScripts(client.pipeline());
      pipeline.touchNode('seen', node);
      const replies = await pipeline.exec();
      expect(replies![0][0], node).to.equal(null);
    }
    await a.script('FLUSH');
    expect(Number(await b.touchNode('seen', 'n5'))).to.be.greaterThan(0);
    expect(await a.zcard('seen')).to.equal(5);
  });

  it('a client with a key prefix keeps its own script commands, which add its prefix, in pipelines too', async () => {
    const plain = redis.client();
    const prefixed = createRedis(redis.target, { keyPrefix: 'kp:' });
    try {
      await prefixed.touchNode('prefixed', 'p1');
      const pipeline = withScripts(prefixed.pipeline());
      pipeline.touchNode('prefixed', 'p2');
      const replies = await pipeline.exec();
      expect(replies![0][0]).to.equal(null);
      await plain.touchNode('prefixed', 'q1');
      expect((await plain.zrange('kp:prefixed', 0, -1)).sort()).to.deep.equal(['p1', 'p2']);
      expect(await plain.zrange('prefixed', 0, -1)).to.deep.equal(['q1']);
    } finally {
      await prefixed.quit();
    }
  });
});
