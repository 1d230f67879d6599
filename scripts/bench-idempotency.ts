/**
 * What remembering event ids costs Redis: ids claimed and settled as the API does (one
 * claim script and one settle script per batch of 100), their memory per id, and what
 * that makes at 10,000 events/s for a given IDEMPOTENCY_WINDOW (ids are kept between one
 * and two windows). Beside it, in the same run, redis-benchmark's EVALSHA rate on the same
 * redis-server, for scale.
 *
 *   npm run bench:idempotency [-- --ids 1000000 --window 5m]
 */
import { parseArgs } from 'node:util';
import { parseDuration } from '../lib/config/duration';
import { KeySpace } from '../lib/redis/keys';
import { createRedis } from '../lib/redis/connection';
import { PrivateRedis } from '../lib/redis/server';
import { EventClaims, EVENT_CLAIM_DEFAULTS } from '../lib/telemetry/event-claims';
import { redisBenchmark } from './support/redis-benchmark';
import { fmt, printTable } from './support/table';

const { values } = parseArgs({ options: { ids: { type: 'string', default: '1000000' }, window: { type: 'string', default: '2m' } } });
const IDS = Number(values.ids);
const WINDOW_MS = parseDuration(values.window!)!;
const BATCH = 100;
const NODES = 20;

async function main() {
  const server = await PrivateRedis.start();
  const redis = createRedis(server.url);
  const claims = new EventClaims(redis, new KeySpace('tc', 16), { ...EVENT_CLAIM_DEFAULTS, windowMs: WINDOW_MS });
  const memory = async () => Number(/used_memory:(\d+)/.exec(await redis.info('memory'))![1]);
  const before = await memory();
  const started = performance.now();
  const inFlight = 32;
  let next = 0;
  // ids as TelemetryClient makes them: '<sfu node>:<session>:<sequence>', from 20 SFU nodes
  const worker = async () => {
    for (;;) {
      const start = next;
      next += BATCH;
      if (start >= IDS) return;
      const node = `sfu-${start % NODES}`;
      const ids = Array.from({ length: BATCH }, (_, i) => `${node}:k3Jx9QaZ:${start + i}`);
      const token = `RQ_${start}`;
      await claims.claim(node, ids, token);
      await claims.done(node, ids, token);
    }
  };
  await Promise.all(Array.from({ length: inFlight }, worker));
  const seconds = (performance.now() - started) / 1000;
  const used = (await memory()) - before;
  const perId = used / IDS;
  const evalsha = redisBenchmark(server.port, ['EVAL', "return redis.call('SET', KEYS[1], ARGV[1])", '1', 'k', 'v'], { requests: 100_000, clients: 50, pipeline: 1 });
  await redis.quit();
  await server.stop();

  const at10k = 10_000 * (WINDOW_MS / 1000);
  console.log(`\nevent ids remembered, window ${values.window} (ids kept ${values.window} to ${fmt(2 * WINDOW_MS / 60000, 1)} min), batches of ${BATCH}, ${inFlight} batches in flight, one process`);
  printTable([
    ['what', 'value'],
    ['ids claimed and settled', fmt(IDS)],
    ['ids/s (claim + settle per batch)', fmt(IDS / seconds)],
    ['Redis memory for them', `${fmt(used / 1024 / 1024, 1)} MiB`],
    ['bytes per id', fmt(perId, 1)],
    [`at 10,000 events/s: ids held (${values.window} .. 2 x ${values.window})`, `${fmt(at10k)} .. ${fmt(2 * at10k)}`],
    ['at 10,000 events/s: Redis memory', `${fmt(at10k * perId / 1024 / 1024)} .. ${fmt(2 * at10k * perId / 1024 / 1024)} MiB`],
    ['for scale: redis-benchmark EVAL (a SET), 50 clients', `${fmt(evalsha)} /s`],
  ]);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
