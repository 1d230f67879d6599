import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import type { Coordinator } from '../coordinator';
import type { BackgroundJobs } from './background-jobs';
import { InvalidRequestError } from '../registry/validate';
import { raisedLeaves } from '../registry/registry';
import type { RedisClient } from '../redis/connection';
import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { FastifyAdapter } from '@bull-board/fastify';
import { timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import { RetryableError } from '../telemetry/event-claims';
import { NotReplicatedError } from '../telemetry/replica-wait';
import { decodeEvents, InvalidEventError, readId } from '../telemetry/validate';
import { refuseToken } from './auth';
import { NodeMetrics } from './metrics';
import { registerWebhookRoutes } from './webhooks-routes';
import { ReplayUnderWayError } from '../webhooks/replay-lease';

export interface HttpOptions {
  apiKey: string;
  apiSecret: string;
  maxBodyBytes: number;
  /** A request's head and body must arrive within this (REQUEST_TIMEOUT_MS unless a test says otherwise). */
  requestTimeoutMs?: number;
}

/**
 * A request must arrive whole within this, or it is answered 408 and its connection closed.
 * Fastify turns Node's limit off: a client sending its body a byte at a time held its
 * connection for as long as it liked, before any token was checked (the body is read first).
 */
export const REQUEST_TIMEOUT_MS = 30_000;

/** Deeper than any LiveKit message needs: a request nested past it is refused before it is parsed. */
export const MAX_JSON_DEPTH = 32;

/** How deep `text`'s JSON nests (arrays and objects), read without parsing it. */
export function jsonDepth(text: string): number {
  let depth = 0;
  let max = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text.charCodeAt(i);
    if (inString) {
      if (ch === 92) i++; // backslash: the next character is escaped
      else if (ch === 34) inString = false;
    } else if (ch === 34) inString = true;
    else if (ch === 123 || ch === 91) { if (++depth > max) max = depth; }
    else if (ch === 125 || ch === 93) depth--;
  }
  return max;
}

/**
 * Errors a retry can cure: Redis unreachable, loading, read-only after a failover, out of
 * memory. Anything else is a fault a retry would repeat.
 */
const REDIS_DOWN = /ECONNREFUSED|ECONNRESET|EPIPE|ETIMEDOUT|EHOSTUNREACH|Connection is closed|Stream isn't writeable|max retries per request|^LOADING|^READONLY|^MASTERDOWN|^CLUSTERDOWN|^TRYAGAIN|^BUSY|^OOM/i;

function retryable(err: Error, redis: RedisClient): boolean {
  return err instanceof RetryableError || err.name === 'MaxRetriesPerRequestError' || REDIS_DOWN.test(err.message ?? '') || redis.status !== 'ready';
}

/**
 * The HTTP contract SFU nodes speak (`POST /v1/telemetry` and friends). Any coordinator
 * node answers any request: all state is in Redis. A 200 is sent only once every effect
 * of the batch is stored; a 400 names the first bad event and field, with nothing applied.
 * `jobs`: the node's background work, when it runs off this event loop (readiness and
 * metrics ask it); without it, `coordinator` runs its own.
 */
export function buildServer(coordinator: Coordinator, opts: HttpOptions, log: Logger, jobs?: BackgroundJobs): FastifyInstance {
  // one debug line per request (below) instead of Fastify's two at info
  const app = Fastify({
    loggerInstance: log as unknown as FastifyBaseLogger, bodyLimit: opts.maxBodyBytes,
    logController: new LogController({ disableRequestLogging: true }),
    // a path id as long as the API accepts (256 bytes, up to 3 characters each percent-encoded),
    // not Fastify's 100 characters: a worker written with a longer sid could not be looked up
    routerOptions: { maxParamLength: 768 },
    serverFactory: (handler) => {
      const limit = opts.requestTimeoutMs ?? REQUEST_TIMEOUT_MS;
      // Node checks its connections' limits this often: a second, not its default 30 s
      return http.createServer({ requestTimeout: limit, headersTimeout: limit, connectionsCheckingInterval: Math.min(1000, limit) }, handler);
    },
  });
  // only JSON is taken: text/plain would otherwise be parsed as a string body
  app.removeContentTypeParser('text/plain');
  // nesting is bounded before parsing: a deep body would otherwise overflow a recursive reader
  const parseJson = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (req, body, done) => {
    if (jsonDepth(body as string) > MAX_JSON_DEPTH) {
      done(new InvalidEventError('too_deep', `body: JSON nested deeper than ${MAX_JSON_DEPTH} levels`), undefined);
      return;
    }
    parseJson(req, body as string, done);
  });
  const secret = new TextEncoder().encode(opts.apiSecret);

  // While draining, answers in flight close their connection: a keep-alive connection
  // left open would hold close() until its idle timeout (72 s in Fastify).
  let draining = false;
  app.addHook('preClose', async () => { draining = true; });
  app.addHook('onSend', async (_req, reply, payload) => {
    if (draining) reply.header('Connection', 'close');
    return payload;
  });

  app.addHook('onResponse', async (req, reply) => {
    req.log.debug({ method: req.method, url: req.url, status: reply.statusCode, ms: Math.round(reply.elapsedTime) }, 'request');
  });

  const metrics = new NodeMetrics(coordinator, jobs);

  // 400s name what to fix; 503 (Retry-After) only for what a retry can cure; anything else
  // is a fault of ours: 500, logged with its stack and counted
  app.setErrorHandler((err: Error & { statusCode?: number; code?: string }, req, reply) => {
    const answer = (status: number, code: string, message: string, index?: number) => {
      metrics.httpErrors.inc({ status });
      return reply.code(status).send({ error: { code, message, ...(index === undefined ? {} : { index }) } });
    };
    if (err instanceof InvalidEventError) return answer(400, err.code, err.message, err.index);
    if (err instanceof InvalidRequestError) return answer(400, 'invalid_field', err.message);
    if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE') return answer(413, 'body_too_large', `body over ${opts.maxBodyBytes} bytes`);
    if (err.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') return answer(415, 'unsupported_media_type', 'Content-Type must be application/json');
    if (err.statusCode !== undefined && err.statusCode >= 400 && err.statusCode < 500) return answer(err.statusCode, 'malformed_request', err.message);
    if (err instanceof ReplayUnderWayError) {
      // nothing done: the replay under way re-queues the window's dead letters, and a later ask finds what it left
      reply.header('Retry-After', String(Math.ceil(err.retryAfterMs / 1000)));
      return answer(409, 'replay_under_way', err.message);
    }
    if (err instanceof NotReplicatedError) {
      // REDIS_WAIT_REPLICAS: stored on the master only; the retry is a no-op by its ids, unless a failover lost the batch
      req.log.warn({ err: err.message }, 'request failed: not confirmed on the replicas');
      reply.header('Retry-After', '1');
      return answer(503, 'not_replicated', `${err.message}: applied on the master only, retry`);
    }
    if (retryable(err, coordinator.redis)) {
      // nothing was acknowledged: the SFU retries, and its event ids keep the retry from applying twice
      req.log.warn({ err: err.message }, 'request failed: storage unavailable');
      reply.header('Retry-After', '1');
      return answer(503, 'unavailable', 'storage unavailable, retry');
    }
    req.log.error({ err }, 'request failed');
    return answer(500, 'internal', 'internal error: not applied (a retry will not help until it is fixed)');
  });

  async function authenticate(req: FastifyRequest, reply: FastifyReply) {
    const refused = await refuseToken(req.headers.authorization, opts.apiKey, secret);
    if (refused) {
      metrics.httpErrors.inc({ status: refused.status });
      return reply.code(refused.status).send({ error: { code: refused.code, message: refused.message } });
    }
  }

  app.get('/metrics', async (_req, reply) => reply.type(metrics.registry.contentType).send(await metrics.text()));

  // the BullMQ dashboard, behind basic auth with the API key and secret
  const board = new FastifyAdapter();
  board.setBasePath('/admin/queues');
  createBullBoard({
    // every queue shard of both kinds of work
    queues: [...coordinator.periodic.queues.queues, ...(coordinator.webhooks?.queues.queues ?? [])].map((q) => new BullMQAdapter(q)),
    serverAdapter: board,
  });
  const expected = Buffer.from(`Basic ${Buffer.from(`${opts.apiKey}:${opts.apiSecret}`).toString('base64')}`);
  app.register(async (scope) => {
    scope.addHook('onRequest', async (req, reply) => {
      const given = Buffer.from(req.headers.authorization ?? '');
      if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
        return reply.code(401).header('WWW-Authenticate', 'Basic realm="queues"').send('authentication required');
      }
    });
    await scope.register(board.registerPlugin(), { prefix: '/admin/queues' });
  });

  app.get('/healthz', async () => ({ ok: true }));
  app.get('/readyz', async (_req, reply) => {
    const redisOk = await coordinator.redis.ping().then(() => true, () => false);
    const workersOk = jobs ? await jobs.running() : coordinator.periodic.running && (coordinator.webhooks ? coordinator.webhooks.running : true);
    return reply.code(redisOk && workersOk ? 200 : 503).send({ redis: redisOk, workers: workersOk });
  });

  app.post('/v1/telemetry', { preHandler: authenticate }, async (req) => {
    const body = req.body as Record<string, unknown> | null;
    if (!body || typeof body !== 'object' || Array.isArray(body)) throw new InvalidEventError('invalid_body', 'body: must be a JSON object { nodeId, events }');
    for (const field of Object.keys(body)) {
      if (field !== 'nodeId' && field !== 'events') throw new InvalidEventError('invalid_body', `${field}: not a field of a batch (nodeId, events)`);
    }
    let nodeId: string;
    try { nodeId = readId('nodeId', body.nodeId); } catch (e) { throw new InvalidEventError('invalid_body', (e as Error).message); }
    // every event is read and checked before the first write
    const calls = decodeEvents(body.events, coordinator.limits);
    const { applied } = await coordinator.batches.apply(nodeId, calls);
    for (const method of applied) metrics.events.inc({ method });
    return { results: calls.map(() => ({ ok: true })) };
  });

  app.post('/v1/nodes/:nodeId/heartbeat', { preHandler: authenticate }, async (req, reply) => {
    await coordinator.registry.heartbeat(readId('nodeId', (req.params as { nodeId: string }).nodeId));
    return reply.code(204).send();
  });

  app.delete('/v1/nodes/:nodeId', { preHandler: authenticate }, async (req, reply) => {
    const nodeId = readId('nodeId', (req.params as { nodeId: string }).nodeId);
    const orphans = await coordinator.registry.departNode(nodeId);
    const relayed = await coordinator.service.relayLeaves(raisedLeaves(orphans));
    req.log.info({ nodeId, released: orphans.length, relayed }, 'SFU node departed: connections released');
    return reply.code(204).send();
  });

  registerWebhookRoutes(app, coordinator, authenticate);

  app.get('/v1/rooms/:roomSid/participants/:participantSid', { preHandler: authenticate }, async (req, reply) => {
    const p = req.params as { roomSid: string; participantSid: string };
    // ids as the API takes them anywhere: a lookup by one no write accepts is a caller's mistake, not a 404
    const ref = { roomId: readId('roomSid', p.roomSid), participantId: readId('participantSid', p.participantSid) };
    const statsWorker = await coordinator.registry.get(ref);
    if (!statsWorker) return reply.code(404).send({ error: { code: 'not_found', message: 'no worker for this participant' } });
    const { roomId, roomName, participantId, identity, guards, refCount, connected, closedAt, generation } = statsWorker;
    return {
      roomId, roomName, participantId, identity, guards, refCount, connected,
      closedAt: closedAt === null ? null : new Date(closedAt).toISOString(), generation,
    };
  });

  return app;
}
