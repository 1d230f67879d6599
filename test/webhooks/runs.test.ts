import type { Job } from 'bullmq';
import { expect } from 'chai';
import { KeySpace } from '../../lib/redis/keys';
import { DEAD_LETTER, RUN, webhookLaneId, webhookUrlTag, type DeadLetterJob, type DeliveryJob, type RunProgress, type WebhookDelivery } from '../../lib/webhooks/delivery';
import { SpareSlotFlags } from '../../lib/webhooks/spare-slots';
import { ids } from '../support/fixture';
import { until, usePrivateRedis } from '../support/redis';
import { joined, useDeliveries } from './harness';
import { TestReceiver } from './receiver';

/** Lanes drain in runs: one BullMQ job per lane with events, delivering them in order. */
describe('webhook lane runs', function () {
  this.timeout(60_000);
  const redis = usePrivateRedis();
  const keys = new KeySpace('tc', 4);
  const deliveries = useDeliveries(redis, keys);
  const rx = new TestReceiver();
  /** Identities of every verified attempt, failed ones included, in arrival order. */
  let attempts: string[] = [];
  before(() => rx.start());
  after(() => rx.stop());
  beforeEach(() => {
    attempts = [];
    rx.delayMs = 0;
    rx.answer = (ev) => { attempts.push(ev.participant?.identity ?? ''); return 200; };
  });

  const laneOf = (room: string) => webhookLaneId(rx.url, `room:${room}`);
  /** Every run job BullMQ keeps of one lane. */
  const runsOf = async (d: WebhookDelivery, room: string) =>
    (await d.queue.getJobs(['completed', 'active', 'waiting', 'delayed', 'failed'])).filter((j) => j.name === RUN && j.id!.startsWith(`${RUN}.${laneOf(room)}.`));
  const queue = async (d: WebhookDelivery, room: string, who: string[]) => {
    const events = who.map((w) => joined(room, w));
    for (const ev of events) await d.queueNotify(ev);
    return events;
  };
  const names = (prefix: string, count: number, from = 0) => Array.from({ length: count }, (_, k) => `${prefix}${from + k}`);

  it('delivers many events of one lane in order under one job', async () => {
    const producer = await deliveries.make([rx.url], {}, false);
    const room = ids.roomInfo('many').name;
    const who = names('p', 200);
    await queue(producer, room, who);
    await deliveries.make([rx.url]);
    await until(() => rx.roomSequence(room).length === who.length, 'every event', 30_000);
    expect(rx.roomSequence(room)).to.deep.equal(who);
    expect(attempts.filter((a) => who.includes(a))).to.deep.equal(who); // none sent twice
    // read as BullMQ holds it once completed (an earlier read has no return value yet)
    const runs = await until(async () => { const r = await runsOf(producer, room); return r.length === 1 && r[0].finishedOn ? r : null; }, 'the run to complete');
    expect(runs[0].returnvalue).to.match(/^drained: 200 delivered, 0 dead letter/);
  });

  it('an event queued during a run joins it', async () => {
    rx.delayMs = 30;
    // queued where nothing delivers: the run is a BullMQ job
    const producer = await deliveries.make([rx.url], {}, false);
    await deliveries.make([rx.url]);
    const room = ids.roomInfo('join').name;
    await queue(producer, room, names('p', 5));
    await until(() => rx.roomSequence(room).length >= 2, 'the run under way');
    const runs = await runsOf(producer, room);
    expect(runs).to.have.length(1);
    expect(await runs[0].isActive()).to.equal(true);
    await queue(producer, room, names('p', 5, 5));
    await until(() => rx.roomSequence(room).length === 10, 'all ten');
    expect(rx.roomSequence(room)).to.deep.equal(names('p', 10));
    expect((await runsOf(producer, room)).map((j) => j.id)).to.deep.equal([runs[0].id]);
  });

  it('an event queued on a delivering node starts an inline run: no BullMQ job; events queued meanwhile join it', async () => {
    rx.delayMs = 30;
    const d = await deliveries.make([rx.url]);
    const db = redis.client();
    const room = ids.roomInfo('inline').name;
    const lane = keys.webhookLane(laneOf(room));
    await queue(d, room, names('p', 5));
    await until(() => rx.roomSequence(room).length >= 2, 'the run under way');
    const runId = await db.hget(lane.run, 'job');
    expect(runId).to.match(/^inline\./);
    await queue(d, room, names('p', 5, 5));
    // the lane still names the same run: the new events joined it
    expect(await db.hget(lane.run, 'job')).to.equal(runId);
    await until(() => rx.roomSequence(room).length === 10, 'all ten');
    expect(rx.roomSequence(room)).to.deep.equal(names('p', 10));
    expect(attempts.filter((a) => names('p', 10).includes(a))).to.deep.equal(names('p', 10)); // none sent twice
    expect(await runsOf(d, room)).to.deep.equal([]);
    // over: the lane, its URL's lanes with work and the index of inline runs forget it
    const url = keys.webhookUrl(webhookUrlTag(rx.url));
    await until(async () => (await db.exists(lane.run)) === 0 && (await db.zscore(url.inline, runId!)) === null && (await db.hget(url.lanes, laneOf(room))) === null, 'the run to be forgotten');
  });

  it('a burst of one-event lanes past WEBHOOK_MAX_IN_FLIGHT: every run inline, the cap held at the receiver, each slot passed to the next run on the node, all back in Redis after', async () => {
    rx.delayMs = 20;
    rx.maxOpen = rx.open;
    const d = await deliveries.make([rx.url], { maxInFlight: 5 });
    const db = redis.client();
    const limits = keys.webhookUrlLimits(webhookUrlTag(rx.url));
    const rooms = Array.from({ length: 60 }, (_, k) => ids.roomInfo(`burst${k}`).name);
    await Promise.all(rooms.map((room) => d.queueNotify(joined(room, 'p0'))));
    // the slots' leases seen in Redis meanwhile: those taken with the first runs' notes, passed on
    const leases = new Set<string>();
    await until(async () => {
      for (const lease of await db.zrange(limits.leases, 0, -1)) leases.add(lease);
      return rooms.every((room) => rx.roomSequence(room).length === 1);
    }, 'every lane delivered');
    expect(rx.maxOpen).to.be.at.most(5);
    expect(leases.size).to.be.within(1, 5);
    // the runs waiting on the node took the slots of the runs ending: none was refused one, none became a job
    expect(d.metrics.inline.started).to.equal(rooms.length);
    expect(d.metrics.inline.handedOn).to.deep.equal({ wait: 0, yield: 0, busy: 0, lapsed: 0 });
    expect(d.metrics.limitHolds).to.deep.equal({ inFlight: 0, rate: 0 });
    await until(async () => (await db.zcard(limits.leases)) === 0, 'every slot back in Redis');
    const url = keys.webhookUrl(webhookUrlTag(rx.url));
    await until(async () => (await db.zcard(url.inline)) === 0 && (await db.hlen(url.lanes)) === 0, 'the runs forgotten by their URL');
  });

  /**
   * Queues one event to each of 20 lanes, each once the last one's run is over (the lane
   * forgot it), and returns the leases of the URL's slots seen in Redis meanwhile.
   */
  const oneAfterAnother = async (producer: WebhookDelivery, name: string) => {
    const db = redis.client();
    const limits = keys.webhookUrlLimits(webhookUrlTag(rx.url));
    const leases = new Set<string>();
    for (let k = 0; k < 20; k++) {
      const room = ids.roomInfo(`${name}${k}`).name;
      await producer.queueNotify(joined(room, 'p0'));
      // the slot a run leaves stays on its node for 20 to 40 ms, so the next event comes
      // while it is there (polled closely rather than every 20 ms)
      const lane = keys.webhookLane(laneOf(room));
      const deadline = Date.now() + 10_000;
      while (rx.roomSequence(room).length === 0 || (await db.exists(lane.run)) === 1) {
        if (Date.now() > deadline) throw new Error(`${room}: not delivered`);
        for (const lease of await db.zrange(limits.leases, 0, -1)) leases.add(lease);
      }
    }
    await until(async () => (await db.zcard(limits.leases)) === 0, 'the slot back in Redis');
    return leases;
  };

  it('one-event lanes one after another on a delivering node: a run starts with the slot the last one left on the node, not a new lease from Redis', async () => {
    const d = await deliveries.make([rx.url], { maxInFlight: 5 });
    const leases = await oneAfterAnother(d, 'oneafter');
    // one lease taken for the first run and passed on (a few more if the machine stalled past the window)
    expect(leases.size).to.be.within(1, 5);
    expect(d.metrics.inline.started).to.equal(20);
    expect(d.metrics.limitHolds).to.deep.equal({ inFlight: 0, rate: 0 });
  });

  it('so do runs noted by another thread\'s enqueues (as under npm start), told of the slots to spare through shared memory', async () => {
    const producer = await deliveries.make([rx.url], { maxInFlight: 5 }, false);
    const sender = await deliveries.make([rx.url], { maxInFlight: 5 });
    const flags = new SpareSlotFlags([rx.url]);
    sender.shareSpareSlots(flags);
    // the producer reads the flags through memory of its own over the same buffer, as the API thread does
    const seen = new SpareSlotFlags([rx.url], flags.buffer);
    producer.runInlineWith((runId, run, dropped, slotAt) => sender.runInline(runId, run, dropped, slotAt), (url) => seen.has(url));
    const leases = await oneAfterAnother(producer, 'otherthread');
    expect(leases.size).to.be.within(1, 5);
    expect(sender.metrics.inline.started).to.equal(20);
    expect(sender.metrics.limitHolds).to.deep.equal({ inFlight: 0, rate: 0 });
    // with nothing held, the flag says so
    expect(seen.has(rx.url)).to.equal(false);
  });

  it('a node that stops leaves none of its runs behind with their URL: its slots back, its lanes and inline runs forgotten, once close() returns', async () => {
    const d = await deliveries.make([rx.url]);
    const db = redis.client();
    const rooms = Array.from({ length: 20 }, (_, k) => ids.roomInfo(`closing${k}`).name);
    await Promise.all(rooms.map((room) => d.queueNotify(joined(room, 'p0'))));
    await until(() => rooms.every((room) => rx.roomSequence(room).length === 1), 'every lane delivered');
    await d.close();
    // read at once: what waited for its settle window went with the close
    const url = keys.webhookUrl(webhookUrlTag(rx.url));
    const limits = keys.webhookUrlLimits(webhookUrlTag(rx.url));
    expect(await db.zcard(limits.leases)).to.equal(0);
    expect(await db.zcard(url.inline)).to.equal(0);
    expect(await db.hlen(url.lanes)).to.equal(0);
  });

  it('an inline run that fails hands its lane to a BullMQ job, retried after the backoff, in order', async () => {
    const room = ids.roomInfo('inlinefail').name;
    rx.answer = (ev, attempt) => {
      const who = ev.participant?.identity ?? '';
      attempts.push(who);
      return who === 'p0' && attempt === 1 ? 503 : 200;
    };
    const d = await deliveries.make([rx.url], { baseBackoffMs: 300, maxBackoffMs: 300 });
    await queue(d, room, names('p', 3));
    await until(() => rx.roomSequence(room).length === 3, 'all three');
    expect(rx.roomSequence(room)).to.deep.equal(names('p', 3));
    expect(attempts.filter((a) => names('p', 3).includes(a))).to.deep.equal(['p0', 'p0', 'p1', 'p2']);
    // the retry was a run job of the lane
    const runs = await until(async () => { const r = await runsOf(d, room); return r.length === 1 && r[0].finishedOn ? r : null; }, 'the job\'s run to complete');
    expect(runs[0].returnvalue).to.match(/^drained: 3 delivered/);
  });

  it('a node that dies with inline runs under way: another node takes their lanes past their deadline, every event once and in order', async () => {
    // a node that noted its inline runs and died before sending: its runner drops them
    const dead = await deliveries.make([rx.url], { timeoutMs: 200 }, false);
    dead.runInlineWith(() => undefined);
    const rooms = Array.from({ length: 5 }, () => ids.roomInfo('orphan').name);
    for (const room of rooms) await queue(dead, room, names('p', 3));
    const db = redis.client();
    const url = keys.webhookUrl(webhookUrlTag(rx.url));
    expect(await db.zcard(url.inline)).to.be.at.least(rooms.length);
    expect(rx.roomSequence(rooms[0])).to.deep.equal([]);
    // deadline: 2 × WEBHOOK_TIMEOUT + 1 s after the enqueue; the sweep looks every second
    await deliveries.make([rx.url], { timeoutMs: 200 });
    for (const room of rooms) await until(() => rx.roomSequence(room).length === 3, `${room}'s events`, 20_000);
    for (const room of rooms) expect(rx.roomSequence(room), room).to.deep.equal(names('p', 3));
    expect(attempts.filter((a) => names('p', 3).includes(a))).to.have.length(rooms.length * 3); // each once
    await until(async () => (await db.zcard(url.inline)) === 0, 'the index of inline runs to empty');
  });

  it('a failed attempt stops the run; the run is retried with backoff and goes on in order; its progress says what waits', async () => {
    const room = ids.roomInfo('fail').name;
    rx.answer = (ev, attempt) => {
      const who = ev.participant?.identity ?? '';
      attempts.push(who);
      return who === 'p4' && attempt <= 2 ? 503 : 200;
    };
    const d = await deliveries.make([rx.url], {}, false);
    const who = names('p', 10);
    await queue(d, room, who);
    // backoffs long enough to read the run while it waits out the first one
    await deliveries.make([rx.url], { baseBackoffMs: 1000, maxBackoffMs: 1000 });
    const progress = await until(async () => {
      const run = (await runsOf(d, room))[0];
      const p = run?.progress as RunProgress | undefined;
      return run && p?.attempts === 1 && (await run.getState()) === 'delayed' ? p : null;
    }, 'the run waiting out its first backoff');
    await until(() => rx.roomSequence(room).length === 10, 'all ten', 20_000);
    expect(rx.roomSequence(room)).to.deep.equal(who);
    // nothing behind p4 was tried before p4 got through
    expect(attempts.filter((a) => who.includes(a))).to.deep.equal(['p0', 'p1', 'p2', 'p3', 'p4', 'p4', 'p4', 'p5', 'p6', 'p7', 'p8', 'p9']);
    const runs = await until(async () => { const r = await runsOf(d, room); return r.length === 1 && r[0].finishedOn ? r : null; }, 'the run to complete');
    expect(runs[0].attemptsMade).to.equal(3); // two failed attempts of the run (retried by BullMQ), then the one that drained it
    expect(progress).to.deep.include({ waiting: 6, attempts: 1 });
    expect(progress?.lastError).to.match(/HTTP 503/);
    expect(deliveries.deadLetters()).to.equal(0);
  });

  it('an event out of attempts is one dead letter, retryable from the dashboard; the lane goes on', async () => {
    const room = ids.roomInfo('dead').name;
    let accept = false;
    rx.answer = (ev) => {
      attempts.push(ev.participant?.identity ?? '');
      return ev.participant?.identity === 'p2' && !accept ? 503 : 200;
    };
    const d = await deliveries.make([rx.url], { maxAttempts: 3 });
    const events = await queue(d, room, names('p', 5));
    await until(() => rx.roomSequence(room).length === 4, 'the events around the dead letter');
    expect(rx.roomSequence(room)).to.deep.equal(['p0', 'p1', 'p3', 'p4']);
    expect(rx.attempts.get(events[2].id)).to.equal(3);
    expect(rx.received.find((e) => e.id === events[3].id)?.numDropped).to.equal(1);
    const failed = (await d.queue.getFailed()).filter((j) => (j.data as DeadLetterJob).lane === laneOf(room));
    expect(failed.map((j) => [j.name, j.id])).to.deep.equal([[DEAD_LETTER, `${events[2].id}.0`]]);
    const dead = failed[0] as Job<DeliveryJob>;
    expect(dead.failedReason).to.match(/^HTTP 503, attempt 3\b/);
    expect((dead.data as DeadLetterJob).attempts).to.equal(3);
    expect(deliveries.deadLetters()).to.equal(1);
    // the dashboard's retry
    accept = true;
    await dead.retry('failed');
    await until(() => rx.received.some((e) => e.id === events[2].id), 'the retried dead letter');
    await until(async () => (await d.queue.getJobState(dead.id!)) === 'completed', 'the dead letter to complete');
    expect(rx.received.filter((e) => e.id === events[2].id)).to.have.length(1);
  });

  it('a node shutting down mid-run hands the lane to another node, in order', async () => {
    rx.delayMs = 20;
    const watcher = await deliveries.make([rx.url], {}, false);
    const first = await deliveries.make([rx.url]);
    const room = ids.roomInfo('handover').name;
    const who = names('p', 60);
    await queue(first, room, who);
    await until(() => rx.roomSequence(room).length >= 5, 'the run under way');
    await first.close();
    const atClose = rx.roomSequence(room).length;
    expect(atClose).to.be.lessThan(who.length);
    const runs = await runsOf(watcher, room);
    expect(runs).to.have.length(1);
    expect(await runs[0].getState()).to.equal('waiting'); // handed back, not finished
    await deliveries.make([rx.url]);
    await until(() => rx.roomSequence(room).length === who.length, 'the rest from the other node', 20_000);
    expect(rx.roomSequence(room)).to.deep.equal(who);
  });

  it('runs drain and start again while events keep coming, on three nodes: every event once, each room in order', async () => {
    const nodes = [await deliveries.make([rx.url]), await deliveries.make([rx.url]), await deliveries.make([rx.url])];
    const rooms = Array.from({ length: 20 }, () => ids.roomInfo('race').name);
    const rounds = 25;
    // a different interleaving of enqueues and runs ending each round: a few ticks between events
    let seed = 7;
    const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    const sent: string[] = [];
    for (let r = 0; r < rounds; r++) {
      await Promise.all(rooms.map(async (room, k) => {
        for (let t = Math.floor(random() * 4); t > 0; t--) await new Promise((res) => setImmediate(res));
        const ev = joined(room, `p${r}`);
        await nodes[(r + k) % nodes.length].queueNotify(ev);
        sent.push(ev.id);
      }));
    }
    await until(() => rooms.every((room) => rx.roomSequence(room).length === rounds), 'every room\'s events', 30_000);
    for (const room of rooms) expect(rx.roomSequence(room), room).to.deep.equal(names('p', rounds));
    expect(sent.filter((id) => rx.attempts.get(id) !== 1)).to.deep.equal([]); // each sent once
    const db = redis.client();
    for (const room of rooms) {
      const lane = keys.webhookLane(laneOf(room));
      await until(async () => (await db.exists(lane.fifo, lane.events, lane.run)) === 0, `${room}'s lane to empty`);
    }
  });

  it('an event queued as a job of its own (before runs) is delivered by a run of its lane', async () => {
    const d = await deliveries.make([rx.url]);
    const room = ids.roomInfo('legacy').name;
    const lane = keys.webhookLane(laneOf(room));
    const ev = joined(room, 'old');
    ev.id = ids.of('EV_', 'legacy');
    const data = { lane: laneOf(room), url: rx.url, event: ev.toJsonString(), enqueuedAt: Date.now() };
    const db = redis.client();
    await db.hset(lane.events, `${ev.id}.0`, JSON.stringify(data));
    await db.rpush(lane.fifo, `${ev.id}.0`);
    await d.queue.add('deliver' as never, data as never, { jobId: `${ev.id}.0` });
    await until(() => rx.roomSequence(room).length === 1, 'the event queued before runs');
    await d.queueNotify(joined(room, 'new'));
    await until(() => rx.roomSequence(room).length === 2, 'the next event');
    expect(rx.roomSequence(room)).to.deep.equal(['old', 'new']);
  });
});
