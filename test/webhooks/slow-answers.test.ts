import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { expect } from 'chai';
import { KeySpace } from '../../lib/redis/keys';
import { httpPost, MAX_ANSWER_BYTES } from '../../lib/webhooks/http-post';
import { ids } from '../support/fixture';
import { until, usePrivateRedis } from '../support/redis';
import { dribble } from '../support/trickle';
import { joined, useDeliveries } from './harness';
import { TestReceiver } from './receiver';

/**
 * A raw HTTP server for one test: `handle` gets each connection's socket once its request's
 * first bytes came. `open` tells whether the latest connection is still open.
 */
async function rawServer(handle: (socket: Socket) => void): Promise<{ url: string; open: () => boolean; close: () => Promise<void> }> {
  const sockets = new Set<Socket>();
  let latest: Socket | undefined;
  const server = http.createServer();
  server.removeAllListeners('connection');
  server.on('connection', (socket: Socket) => {
    latest = socket;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined); // the client dropping the connection resets it
    socket.once('data', () => handle(socket));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`,
    open: () => latest !== undefined && !latest.destroyed,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise((r) => server.close(r));
    },
  };
}

/** A raw server that answers every request with `head`, then `drip` every 20 ms, never ending. */
const tricklingServer = (head: string, drip: string) => rawServer((socket) => {
  socket.write(head);
  dribble(socket, drip);
});

/**
 * WEBHOOK_TIMEOUT bounds an attempt from sending to the answer's end, as Go's
 * http.Client.Timeout does for LiveKit. It used to be a socket idle timeout, reset by each
 * byte: a receiver sending a byte now and then held an attempt, and with it its lane and a
 * slot of its URL, for as long as it liked.
 */
describe('webhook attempts and slow answers', function () {
  this.timeout(60_000);

  it('an answer whose body never ends counts at its status once the time is up, and its connection is dropped', async () => {
    const server = await tricklingServer('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n', '1\r\n.\r\n');
    try {
      expect((await httpPost(server.url, '{}', {}, 300)).status).to.equal(200);
      // the answer was still coming: the attempt did not wait for it
      await until(() => !server.open(), 'the connection dropped');
    } finally { await server.close(); }
  });

  it('a head that never ends is a timed-out attempt', async () => {
    const server = await tricklingServer('HTTP/1.1 200 OK\r\n', 'X-Slow: 1\r\n');
    try {
      let error: Error | null = null;
      await httpPost(server.url, '{}', {}, 300).catch((e: Error) => { error = e; });
      expect(error, 'the attempt failed').to.not.equal(null);
      expect(error!.message).to.match(/timed out after 300ms/);
      await until(() => !server.open(), 'the connection dropped');
    } finally { await server.close(); }
  });

  it(`an answer longer than ${MAX_ANSWER_BYTES} bytes counts at its status, its connection dropped rather than read on`, async () => {
    const server = await rawServer((socket) => {
      socket.write('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 1000000000\r\n\r\n');
      const block = 'x'.repeat(16 * 1024);
      const pump = () => { while (!socket.destroyed && socket.write(block)); };
      socket.on('drain', pump);
      pump();
    });
    try {
      // a time limit far off: the size, not the time, ends it
      expect((await httpPost(server.url, '{}', {}, 30_000)).status).to.equal(200);
      await until(() => !server.open(), 'the connection dropped');
    } finally { await server.close(); }
  });

  it('a whole answer keeps its connection for the next attempt', async () => {
    const server = http.createServer((req, res) => { req.resume(); req.on('end', () => res.writeHead(204).end()); });
    let connections = 0;
    server.on('connection', () => { connections++; });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
      for (let i = 0; i < 20; i++) expect((await httpPost(url, '{}', {}, 1000)).status).to.equal(204);
      expect(connections).to.equal(1);
    } finally {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    }
  });

  describe('in delivery (BullMQ, real receiver)', () => {
    const redis = usePrivateRedis();
    const { make } = useDeliveries(redis, new KeySpace('tc', 4));

    it('a receiver that never finishes its 200 holds its lane no longer than the timeout: the next event follows, each once', async () => {
      const rx = new TestReceiver();
      rx.trickle = (ev) => (ev.participant?.identity === 'slow' ? 'body' : null);
      await rx.start();
      try {
        const d = await make([rx.url], { timeoutMs: 300 });
        const room = ids.roomInfo('trickled-body').name;
        const slow = joined(room, 'slow');
        await d.queueNotify(slow);
        await d.queueNotify(joined(room, 'after'));
        await until(() => rx.roomSequence(room).length === 2, 'the event after the slow answer');
        expect(rx.roomSequence(room)).to.deep.equal(['slow', 'after']);
        // its 200 came: delivered, not retried
        expect(rx.attempts.get(slow.id)).to.equal(1);
      } finally { await rx.stop(); }
    });

    it('a receiver whose answer never gets past its head times out each attempt: the event is a dead letter and the lane goes on', async () => {
      const rx = new TestReceiver();
      rx.trickle = (ev) => (ev.participant?.identity === 'stuck' ? 'head' : null);
      await rx.start();
      try {
        const d = await make([rx.url], { timeoutMs: 300, maxAttempts: 2 });
        const room = ids.roomInfo('trickled-head').name;
        const stuck = joined(room, 'stuck');
        await d.queueNotify(stuck);
        await d.queueNotify(joined(room, 'after'));
        await until(() => rx.roomSequence(room).includes('after'), 'the event after the stuck one');
        expect(rx.roomSequence(room)).to.deep.equal(['after']);
        expect(rx.attempts.get(stuck.id)).to.equal(2);
        const dead = (await d.queue.getFailed()).find((j) => j.id === `${stuck.id}.0`);
        expect(dead?.failedReason).to.match(/timed out after 300ms/);
        expect(rx.received.find((e) => e.participant?.identity === 'after')?.numDropped).to.equal(1);
      } finally { await rx.stop(); }
    });
  });
});
