/**
 * Fuzzes one coordinator node process (`npm start`'s entry point, on a private
 * redis-server) over HTTP with batches a buggy or hostile SFU could send: valid batches
 * mutated at random by fast-check (wrong types, out-of-range numbers, missing and extra
 * fields, prototype names, oversize strings, deep nesting, duplicated and reordered
 * events, ids with '|', '{', '}' and unicode).
 *
 * A finding is any of: an answer other than 200 or 4xx; a 4xx after which the coordinator's
 * keys in Redis changed; a 200 after which a flush fails or sets aside a stat LiveKit would
 * not skip. On a finding fast-check shrinks the case, and the smallest one is printed.
 *
 *   npm run fuzz [-- --cases 2000 --seed=42]
 */
import { parseArgs } from 'node:util';
import fc from 'fast-check';
import { AccessToken } from 'livekit-server-sdk';
import { loadOptions } from '../lib/config/options';
import { Coordinator } from '../lib/coordinator';
import { createLogger } from '../lib/log';
import { createRedis } from '../lib/redis/connection';
import { freePort, PrivateRedis } from '../lib/redis/server';
import { startHttpNode, stopNodeProcess } from '../test/support/processes';
import { describeCase, fuzzCase, mutate } from '../test/support/fuzz-batches';
import { printTable } from './support/table';

const { values } = parseArgs({ options: { cases: { type: 'string', default: '2000' }, seed: { type: 'string' } } });
const CASES = Number(values.cases);
const API_KEY = 'fuzz-key';
const API_SECRET = 'fuzz-secret-long-enough-for-hs256-signing';
const PREFIX = 'tc';

async function main() {
  const server = await PrivateRedis.start({ debugCommands: true });
  const port = await freePort();
  const env = { PORT: String(port), REDIS_URL: server.url, API_KEY, API_SECRET, REGISTRY_SHARDS: '4', LOG_LEVEL: 'error' };
  // what changes Redis by itself while a case is checked, all far off: the node's flush, lease
  // expiry and reaping, and the expiry of event ids (two IDEMPOTENCY_WINDOWs: a run past 4
  // minutes saw earlier cases' id slices expire during a 400, a false finding)
  const node = await startHttpNode({ ...env, FLUSH_INTERVAL: '1h', NODE_LEASE: '1h', WORKER_CLEANUP_WAIT: '1h', IDEMPOTENCY_WINDOW: '1h' });
  const admin = createRedis(server.url);
  // the flush the node would run, run here between cases, on the same Redis
  const flusher = new Coordinator({ redis: server.url, options: loadOptions({ ...env, NODE_ID: 'fuzz-flush' }), log: createLogger('silent') });
  const at = new AccessToken(API_KEY, API_SECRET, { identity: 'fuzz', ttl: '2h' });
  at.addObservabilityGrant({ write: true });
  const token = await at.toJwt();
  const url = `http://127.0.0.1:${port}/v1/telemetry`;

  /** The coordinator's keys, each with its value's digest (not BullMQ's, whose schedulers tick on their own). */
  const snapshot = async (): Promise<Map<string, string>> => {
    const keys = (await admin.keys(`${PREFIX}*`)).filter((k) => !k.startsWith(`{${PREFIX}:bull}`)).sort();
    const digests = keys.length > 0 ? ((await admin.call('DEBUG', 'DIGEST-VALUE', ...keys)) as string[]) : [];
    return new Map(keys.map((k, i) => [k, digests[i]]));
  };
  /** The keys added, removed or changed between two snapshots ('' when none). */
  const changes = (a: Map<string, string>, b: Map<string, string>): string => {
    const changed = [...new Set([...a.keys(), ...b.keys()])].filter((k) => a.get(k) !== b.get(k));
    return changed.map((k) => `${k} (${!a.has(k) ? 'added' : !b.has(k) ? 'removed' : 'changed'})`).join(', ');
  };

  const statuses = new Map<string, number>();
  let tried = 0;
  const started = Date.now();
  const progress = setInterval(() => {
    process.stderr.write(`[${Math.round((Date.now() - started) / 1000)}s] cases ${tried} / ${CASES}  statuses ${[...statuses].map(([s, n]) => `${s}:${n}`).join(' ')}\n`);
  }, 5000);

  let result: fc.RunDetails<[{ batch: Parameters<typeof mutate>[0]; mutations: Parameters<typeof mutate>[1] }]>;
  try {
    result = await fc.check(fc.asyncProperty(fuzzCase, async (c) => {
      tried++;
      const before = await snapshot();
      const res = await fetch(url, { method: 'POST', headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${token}` }, body: JSON.stringify(mutate(c.batch, c.mutations)) });
      const text = await res.text();
      const status = String(res.status);
      statuses.set(status, (statuses.get(status) ?? 0) + 1);
      if (res.status >= 500) throw new Error(`answered ${res.status}: ${text.slice(0, 300)}`);
      if (res.status !== 200) {
        if (res.status < 400) throw new Error(`answered ${res.status}`);
        const changed = changes(before, await snapshot());
        if (changed) throw new Error(`answered ${res.status} (${text.slice(0, 200)}) yet Redis changed: ${changed}`);
        return;
      }
      await flusher.service.flushStats();
      for (const [, f] of await admin.xrange(`${PREFIX}:analytics:stats_rejected`, '-', '+')) {
        const reason = f[f.indexOf('reason') + 1];
        if (!/wrapped/.test(reason)) throw new Error(`a stat accepted with 200 was set aside by the flush: ${reason}`);
      }
    }), { numRuns: CASES, seed: values.seed === undefined ? undefined : Number(values.seed) });
  } finally {
    clearInterval(progress);
    await flusher.close();
    await admin.quit();
    await stopNodeProcess(node);
    await server.stop();
  }

  console.log();
  printTable([
    ['what', 'value'],
    ['cases tried (shrinking included)', tried],
    ['statuses seen', [...statuses].sort().map(([s, n]) => `${s} x ${n}`).join(', ')],
    ['seed', result.seed],
    ['finding', result.failed ? 'YES' : 'none'],
  ]);
  if (result.failed && result.counterexample) {
    console.log(`\ncounterexample (shrunk ${result.numShrinks} times): ${result.errorInstance instanceof Error ? result.errorInstance.message : String(result.errorInstance)}`);
    console.log(describeCase(result.counterexample[0]));
    console.log(`replay: npm run fuzz -- --cases ${CASES} --seed=${result.seed}`); // "=": a seed may be negative
  }
  process.exit(result.failed ? 1 : 0);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
