import net from 'node:net';
import { expect } from 'chai';
import type { FastifyInstance } from 'fastify';
import { loadOptions } from '../../lib/config/options';
import { Coordinator } from '../../lib/coordinator';
import { buildServer, REQUEST_TIMEOUT_MS } from '../../lib/http/server';
import { createLogger } from '../../lib/log';
import { freePort } from '../../lib/redis/server';
import { API_KEY, API_SECRET } from '../support/receiver';
import { until, usePrivateRedis } from '../support/redis';
import { dribble } from '../support/trickle';

/** Opens a connection, writes `head`, then `drip` every 50 ms until it closes; what it was answered. */
function dribbleRequest(port: number, head: string, drip: string): { answer: () => string; closed: () => boolean } {
  let answer = '';
  let closed = false;
  const socket = net.connect(port, '127.0.0.1', () => {
    socket.write(head);
    dribble(socket, drip, 50);
  });
  socket.on('data', (d: Buffer) => { answer += d.toString('utf8'); });
  socket.on('error', () => undefined);
  socket.on('close', () => { closed = true; });
  return { answer: () => answer, closed: () => closed };
}

/**
 * A client that sends its request a byte at a time is cut off: Fastify turns Node's request
 * time limit off, and a body is read before its token is checked, so anyone reaching the
 * port could hold connections open for as long as they liked (70 s and counting, seen).
 */
describe('slow clients (in-process node, private redis-server)', function () {
  this.timeout(60_000);
  const redis = usePrivateRedis();
  let c: Coordinator;
  let app: FastifyInstance;
  let port = 0;

  before(async () => {
    c = new Coordinator({ redis: redis.target, options: loadOptions({ REGISTRY_SHARDS: '4', NODE_ID: 'slow-clients' }), log: createLogger('silent') });
    app = buildServer(c, { apiKey: API_KEY, apiSecret: API_SECRET, maxBodyBytes: 1 << 20, requestTimeoutMs: 500 }, createLogger('silent'));
    port = await freePort();
    await app.listen({ port, host: '127.0.0.1' });
  });
  redis.cleanups.push(async () => {
    await app.close();
    await c.close();
  });

  it('a body sent a byte at a time is answered 408 and its connection closed, no token needed to be held off', async () => {
    const req = dribbleRequest(port, 'POST /v1/telemetry HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{', ' ');
    await until(() => req.closed(), 'the connection closed', 15_000);
    expect(req.answer()).to.match(/^HTTP\/1\.1 408/);
  });

  it('a head sent a line at a time is answered 408 and its connection closed', async () => {
    const req = dribbleRequest(port, 'POST /v1/telemetry HTTP/1.1\r\nHost: x\r\n', 'X-Slow: 1\r\n');
    await until(() => req.closed(), 'the connection closed', 15_000);
    expect(req.answer()).to.match(/^HTTP\/1\.1 408/);
  });

  it(`a node's server allows a request ${REQUEST_TIMEOUT_MS} ms by default, head included`, async () => {
    const plain = buildServer(c, { apiKey: API_KEY, apiSecret: API_SECRET, maxBodyBytes: 1 << 20 }, createLogger('silent'));
    try {
      await plain.ready();
      expect([plain.server.requestTimeout, plain.server.headersTimeout]).to.deep.equal([REQUEST_TIMEOUT_MS, REQUEST_TIMEOUT_MS]);
    } finally {
      await plain.close();
    }
  });
});
