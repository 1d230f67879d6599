import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { jwtVerify } from 'jose';
import type { Logger } from 'pino';
import type { Coordinator } from '../coordinator';
import type { BackgroundJobs } from '../node/background-jobs';
import { InvalidRequestError, requireId } from '../registry/validate';
import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { FastifyAdapter } from '@bull-board/fastify';
import { timingSafeEqual } from 'node:crypto';
import { BadRequest, decodeEvents } from './decode';
import { validateCall } from '../telemetry/validate';
import { SINGLE_WRITE_METHODS } from '../telemetry/service';
import { NodeMetrics } from './metrics';

export interface HttpOptions {
  apiKey: string;
  apiSecret: string;
  maxBodyBytes: number;
  /** How long an applied event id is remembered (idempotent retries). */
  idempotencyTtlSeconds: number;
}

/** Methods whose guard is owned by the SFU node that sent the batch. */
const GUARDED = new Set(['participantJoined', 'participantActive']);

/**
 * The HTTP contract SFU nodes speak (`POST /v1/telemetry` and friends). Any coordinator
 * node answers any request: all state is in Redis. A 200 is sent only once every effect
 * of the batch is stored; a 400 names the first bad event and field, with nothing applied.
 * `jobs`: the node's background work, when it runs off this event loop (readiness and
 * metrics ask it); without it, `c` runs its own.
 */
export function buildServer(c: Coordinator, o: HttpOptions, log: Logger, jobs?: BackgroundJobs): FastifyInstance {
  // one debug line per request (below) instead of Fastify's two at info
  const app = Fastify({
    loggerInstance: log as unknown as FastifyBaseLogger, bodyLimit: o.maxBodyBytes,
    logController: new LogController({ disableRequestLogging: true }),
  });
  // only JSON is taken: text/plain would otherwise be parsed as a string body
  app.removeContentTypeParser('text/plain');
  const secret = new TextEncoder().encode(o.apiSecret);
  const idemKey = (id: string) => `${c.registry.keys.prefix}:idem:${id}`;

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

  app.setErrorHandler((err: Error & { statusCode?: number; code?: string }, req, reply) => {
    if (err instanceof BadRequest) return reply.code(400).send({ error: { code: err.code, message: err.message, index: err.index } });
    if (err instanceof InvalidRequestError) return reply.code(400).send({ error: { code: 'invalid_field', message: err.message } });
    if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE') return reply.code(413).send({ error: { code: 'body_too_large', message: `body over ${o.maxBodyBytes} bytes` } });
    if (err.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') return reply.code(415).send({ error: { code: 'unsupported_media_type', message: 'Content-Type must be application/json' } });
    if (err.statusCode === 400) return reply.code(400).send({ error: { code: 'malformed_json', message: err.message } });
    // anything else is Redis not answering: nothing was acknowledged, the SFU retries
    req.log.warn({ err: err.message }, 'request failed');
    return reply.code(503).header('Retry-After', '1').send({ error: { code: 'unavailable', message: 'storage unavailable, retry' } });
  });

  async function authenticate(req: FastifyRequest, reply: FastifyReply) {
    const h = req.headers.authorization;
    const token = h?.startsWith('Bearer ') ? h.slice(7) : undefined;
    if (!token) return reply.code(401).send({ error: { code: 'unauthorized', message: 'missing Bearer token' } });
    try {
      await jwtVerify(token, secret, { issuer: o.apiKey, requiredClaims: ['exp'] });
    } catch (e) {
      return reply.code(401).send({ error: { code: 'unauthorized', message: `invalid token: ${(e as Error).message}` } });
    }
  }

  const metrics = new NodeMetrics(c, jobs);
  app.get('/metrics', async (_req, reply) => reply.type(metrics.registry.contentType).send(await metrics.text()));

  // the BullMQ dashboard, behind basic auth with the API key and secret
  const board = new FastifyAdapter();
  board.setBasePath('/admin/queues');
  createBullBoard({
    queues: [new BullMQAdapter(c.periodic.queue), ...(c.webhooks ? [new BullMQAdapter(c.webhooks.queue)] : [])],
    serverAdapter: board,
  });
  const expected = Buffer.from(`Basic ${Buffer.from(`${o.apiKey}:${o.apiSecret}`).toString('base64')}`);
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
    const redisOk = await c.redis.ping().then(() => true, () => false);
    const workersOk = jobs ? await jobs.running() : c.periodic.running && (c.webhooks ? c.webhooks.running : true);
    return reply.code(redisOk && workersOk ? 200 : 503).send({ redis: redisOk, workers: workersOk });
  });

  app.post('/v1/telemetry', { preHandler: authenticate }, async (req) => {
    const body = req.body as { nodeId?: unknown; events?: unknown } | null;
    if (!body || typeof body !== 'object') throw new BadRequest('invalid_body', 'body: must be a JSON object');
    let nodeId: string;
    try { nodeId = requireId('nodeId', body.nodeId); } catch (e) { throw new BadRequest('invalid_body', (e as Error).message); }
    // the guard's owner is the sending SFU node; every event is checked before the first write
    const events = decodeEvents(body.events).map((e, index) => {
      const args = GUARDED.has(e.method) && e.args.guard ? { ...e.args, nodeId } : e.args;
      try {
        validateCall(e.method, args);
      } catch (err) {
        if (err instanceof InvalidRequestError) throw new BadRequest('invalid_field', `events[${index}].${err.message}`, index);
        throw err;
      }
      return { ...e, args };
    });
    const ids = events.map((e) => e.id).filter((id): id is string => !!id);
    const [seen] = await Promise.all([
      ids.length > 0 ? c.redis.mget(ids.map(idemKey)) : Promise.resolve([] as (string | null)[]),
      c.registry.heartbeat(nodeId),
    ]);
    const applied = new Set<string>(ids.filter((_, i) => seen[i]));
    const service = c.service as unknown as Record<string, (a: unknown) => Promise<void>>;
    // In order: each event's effects are stored before the next starts. A run of
    // single-write events (stats, track analytics) is sent together, since their writes
    // leave in call order (stats go out as one script per shard), and completes before the
    // next event starts.
    const run: Promise<void>[] = [];
    const done: string[] = [];
    for (const e of events) {
      if (e.id && applied.has(e.id)) continue;
      if (e.id) applied.add(e.id);
      done.push(e.method);
      if (SINGLE_WRITE_METHODS.has(e.method)) {
        run.push(service[e.method](e.args));
        continue;
      }
      if (run.length > 0) await Promise.all(run.splice(0));
      await service[e.method](e.args);
    }
    await Promise.all(run);
    for (const method of done) metrics.events.inc({ method });
    if (ids.length > 0) {
      const p = c.redis.pipeline();
      for (const id of ids) p.set(idemKey(id), '1', 'EX', o.idempotencyTtlSeconds);
      await p.exec();
    }
    return { results: events.map(() => ({ ok: true })) };
  });

  app.post('/v1/nodes/:nodeId/heartbeat', { preHandler: authenticate }, async (req, reply) => {
    await c.registry.heartbeat((req.params as { nodeId: string }).nodeId);
    return reply.code(204).send();
  });

  app.delete('/v1/nodes/:nodeId', { preHandler: authenticate }, async (req, reply) => {
    const nodeId = (req.params as { nodeId: string }).nodeId;
    const orphans = await c.registry.departNode(nodeId);
    const relayed = await c.service.relayLeaves(orphans);
    req.log.info({ nodeId, released: orphans.length, relayed }, 'SFU node departed: connections released');
    return reply.code(204).send();
  });

  app.get('/v1/rooms/:roomSid/participants/:participantSid', { preHandler: authenticate }, async (req, reply) => {
    const p = req.params as { roomSid: string; participantSid: string };
    const w = await c.registry.get({ roomId: p.roomSid, participantId: p.participantSid });
    if (!w) return reply.code(404).send({ error: { code: 'not_found', message: 'no worker for this participant' } });
    return {
      roomId: w.roomId, roomName: w.roomName, participantId: w.participantId, identity: w.identity, guards: w.guards,
      refCount: w.refCount, connected: w.connected, closedAt: w.closedAt === null ? null : new Date(w.closedAt).toISOString(),
      generation: w.generation,
    };
  });

  return app;
}
