import { ConfigError, loadOptions, type Options } from '../config/options';
import { Coordinator } from '../coordinator';
import { createLogger } from '../log';
import { buildServer } from '../http/server';
import { JobsThread } from './jobs-thread';
import { resolveRedis } from './redis-target';
import { createRedis, describeTarget, type RedisTarget } from '../redis/connection';
import { agreeOnQueueShards, QueueShardsMismatch } from '../jobs/queue-shards';

/** The fleet's queue shards, agreed on one short-lived connection. */
async function fleetQueueShards(target: RedisTarget, options: Options): Promise<number> {
  const redis = createRedis(target);
  // the connection's own error says why (refused, a certificate, a password), the command's only that it gave up
  let cause: Error | null = null;
  redis.on('error', (e: Error) => { cause = e; });
  try {
    return await agreeOnQueueShards(redis, options.redisPrefix, options.queueShards);
  } catch (e) {
    if (e instanceof QueueShardsMismatch) throw e;
    throw new Error(`cannot use Redis (${describeTarget(target)}): ${(cause as Error | null)?.message ?? (e as Error).message}`);
  } finally {
    await redis.quit().catch(() => redis.disconnect());
  }
}

/** `npm start`: one coordinator node. */
async function main() {
  let options: Options;
  try {
    options = loadOptions();
  } catch (e) {
    if (e instanceof ConfigError) {
      console.error(`configuration error: ${e.message}`);
      process.exit(2);
    }
    throw e;
  }
  const { http, webhooks } = options;
  const log = createLogger(options.logLevel, { node: options.coordinatorId }, options.logFormat);
  const target = await resolveRedis(options, log);
  if (webhooks.urls.length === 0) log.warn('WEBHOOK_URLS is not set: webhooks are not sent (as LiveKit without webhook URLs)');
  else log.info({ urls: webhooks.urls, include: webhooks.includeEvents, exclude: webhooks.excludeEvents }, 'delivering webhooks');
  let coordinator: Coordinator | null = null;
  let jobs: JobsThread;
  try {
    // QUEUE_SHARDS "auto" becomes the fleet's number before any queue is made, and both threads use it
    options.queueShards = await fleetQueueShards(target.target, options);
    // this thread takes requests; the periodic work and webhook delivery run on their own
    coordinator = new Coordinator({ redis: target.target, options, log, webhooks });
    await coordinator.connect();
    jobs = await JobsThread.start({ redis: target.target, options }, log);
    // runs this thread's enqueues start are sent at once by the jobs thread's delivery
    const thread = jobs;
    coordinator.webhooks?.runInlineWith((runId, run, dropped, slotAt) => thread.runInline(runId, run, dropped, slotAt), (url) => thread.spareSlot(url));
  } catch (e) {
    // a node that cannot start must not leave its private redis-server running
    await coordinator?.close().catch(() => {});
    await target.stop();
    if (e instanceof QueueShardsMismatch) {
      log.fatal(e.message);
      process.exit(2);
    }
    throw e;
  }
  log.info({
    redis: describeTarget(target.target), prefix: options.redisPrefix, shards: options.registryShards, queueShards: options.queueShards, flushIntervalMs: options.flushIntervalMs,
    workerCleanupWaitMs: options.workerCleanupWaitMs, nodeLeaseMs: options.nodeLeaseMs,
  }, 'coordinator node running: flush, reap, node expiry and webhook delivery on BullMQ, on their own thread');

  const app = buildServer(coordinator, http, log, jobs);
  await app.listen({ port: http.port, host: '0.0.0.0' });
  if (http.devKeys) log.warn('dev mode: API_KEY / API_SECRET not set, using API_KEY=devkey API_SECRET=secret (as livekit-server --dev)');
  const base = `http://localhost:${http.port}`;
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal, drainTimeoutMs: options.drainTimeoutMs }, 'stopping: draining requests, then closing the BullMQ workers so their jobs go to other nodes');
    const t0 = Date.now();
    // what the drain is doing, so a drain cut short says what it left to the other nodes
    let step = 'answering the requests in flight (their SFU nodes retry them elsewhere)';
    const drain = (async () => {
      await app.close(); // stops taking requests, finishes those in flight
      log.info({ ms: Date.now() - t0 }, 'requests drained');
      step = 'closing the BullMQ workers (their jobs return to the queue when their locks lapse, and other nodes take them)';
      await jobs.close();
      await coordinator.close();
      log.info({ ms: Date.now() - t0 }, 'BullMQ workers closed');
      step = 'stopping the private redis-server';
      await target.stop();
      return true;
    })();
    // a Redis that went away must not keep the node from exiting: its supervisor is waiting
    const timedOut = new Promise<false>((resolve) => setTimeout(() => resolve(false), options.drainTimeoutMs).unref());
    if (await Promise.race([drain, timedOut])) process.exit(0);
    log.error({ ms: Date.now() - t0, left: step }, 'drain timed out (DRAIN_TIMEOUT): exiting, work left to the other nodes');
    process.exit(1);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
  log.info({ api: `${base}/v1/telemetry`, dashboard: `${base}/admin/queues`, metrics: `${base}/metrics`, ready: `${base}/readyz` }, 'listening');
  // only now: a SIGTERM before the handlers were in place killed the node outright (a test's
  // parent, told 'ready', sent one while this process was descheduled just after the send)
  process.send?.('ready');
}

main().catch((e) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
