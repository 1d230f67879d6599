import { expect } from 'chai';
import { PrivateRedis, freePort } from '../../lib/redis/server';
import type { UrlReport } from '../../lib/webhooks/operations';
import { webhookUrlTag } from '../../lib/webhook-url';
import { ids } from '../support/fixture';
import { postBatch, sfuToken } from '../support/http';
import { startHttpNode, stopNodeProcess } from '../support/processes';
import { API_KEY, API_SECRET, TestReceiver } from '../support/receiver';
import { until } from '../support/redis';

/**
 * Receivers often take their secret in the URL's path or query, and logs go further than
 * settings: a node names its webhook URLs by origin and tag, from its start to its stop,
 * through dead letters, a paused URL and a replay. A 3xx is a failed attempt, not followed.
 */
describe('webhook URLs in a node\'s logs', function () {
  this.timeout(90_000);

  it('names each URL by origin and tag, never its path or query: start, dead letters, a pause, a replay, the stop', async () => {
    const redis = await PrivateRedis.start();
    const rx = new TestReceiver();
    await rx.start();
    // the receiver moved, but for the even rooms: their successes keep its URL from being
    // paused, so each odd room's event, redirected at its one attempt, is a dead letter
    const roomNumber = (ev: { room?: { name?: string } }) => Number(ev.room?.name?.split('-')[1]);
    rx.answer = (ev) => (roomNumber(ev) % 2 === 1 ? 302 : 200);
    const moved = `${rx.url}/S3CRET-PATH?token=S3CRET-QUERY`;
    const dead = `http://127.0.0.1:${await freePort()}/hooks/S3CRET-DEAD`; // nothing listens
    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    const output: string[] = [];
    const node = await startHttpNode({
      PORT: String(port), REDIS_URL: redis.url, API_KEY, API_SECRET, LOG_LEVEL: 'info',
      WEBHOOK_URLS: `${moved},${dead}`, WEBHOOK_MAX_ATTEMPTS: '1', WEBHOOK_BREAK_AFTER: '2s', WEBHOOK_PROBE_EVERY: '1s',
    }, { output });
    try {
      const token = await sfuToken();
      const auth = { Authorization: `Bearer ${token}` };
      const sfu = ids.node();
      const reports = async () => {
        const res = await fetch(`${base}/v1/webhooks`, { headers: auth });
        expect(res.status).to.equal(200);
        return ((await res.json()) as { urls: UrlReport[] }).urls;
      };
      const t0 = Date.now();
      // rooms start until the dead URL is paused (each of its events fails at once)
      let n = 0;
      await until(async () => {
        n++;
        expect((await postBatch(base, token, { nodeId: sfu, events: [{ method: 'roomStarted', id: `r${n}`, room: { sid: `RM_${n}`, name: `logs-${n}` } }] })).status).to.equal(200);
        return (await reports()).find((r) => r.url === dead)?.paused ? true : null;
      }, 'the dead URL paused', 30_000);
      const odd = Math.ceil(n / 2);
      const movedReport = await until(async () => {
        const r = (await reports()).find((x) => x.url === moved);
        return r && r.deadLetters === odd && r.queued === 0 ? r : null;
      }, `${odd} dead letters of the moved URL`);
      expect(movedReport.tag).to.equal(webhookUrlTag(moved));
      expect(movedReport.lastError).to.deep.include({ status: 302, message: 'HTTP 302 (a redirect: not followed)' });
      expect(rx.received.map(roomNumber).sort((a, b) => a - b), 'nothing delivered by a redirect')
        .to.deep.equal(Array.from({ length: n - odd }, (_, i) => 2 * (i + 1)));

      // the receiver is back at the URL: its dead letters replayed, named by the tag the logs show
      rx.answer = () => 200;
      const res = await fetch(`${base}/v1/webhooks/replay`, {
        method: 'POST', headers: { ...auth, 'Content-Type': 'application/json' },
        body: JSON.stringify({ url: `wu:${movedReport.tag}`, since: t0 }),
      });
      expect(res.status).to.equal(200);
      const { replayed } = (await res.json()) as { replayed: number };
      expect(replayed).to.equal(odd);
      await until(() => rx.received.length === n, 'the replayed events');
    } finally {
      await stopNodeProcess(node);
      await rx.stop();
      await redis.stop();
    }
    const text = output.join('');
    for (const line of ['delivering webhooks', 'webhook given up (dead letter)', 'webhook URL paused', 'webhook dead letters replayed']) {
      expect(text, line).to.include(line);
    }
    expect(text).to.include(`${rx.url.slice(0, rx.url.indexOf('/', 'http://'.length))}/… (wu:${webhookUrlTag(moved)})`);
    expect(text).to.include(`(wu:${webhookUrlTag(dead)})`);
    expect(text).to.include('HTTP 302 (a redirect: not followed)');
    expect(text).to.not.include('S3CRET');
  });
});
