import { expect } from 'chai';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { MAX_DURATION_MS, parseDuration } from '../lib/config/duration';
import { CLIENT_DEFAULTS } from '../lib/client/options';
import { loadHttpOptions } from '../lib/config/http';
import { ConfigError, loadOptions, logFormatOf } from '../lib/config/options';
import { redactUrl } from '../lib/config/env';
import { describeTarget } from '../lib/redis/connection';
import { loadWebhookOptions } from '../lib/config/webhooks';
import { wantsEvent, WEBHOOK_DEFAULTS } from '../lib/webhooks/options';

describe('configuration', () => {
  it('parses the short forms and ISO-8601', () => {
    expect(parseDuration('500ms')).to.equal(500);
    expect(parseDuration('30s')).to.equal(30_000);
    expect(parseDuration('3m')).to.equal(180_000);
    expect(parseDuration('1h')).to.equal(3_600_000);
    expect(parseDuration('PT3M')).to.equal(180_000);
    expect(parseDuration('pt1.5s')).to.equal(1500);
    for (const bad of ['', '3', 'm', '3 minutes', '-1s', 'P', 'PTXM']) expect(parseDuration(bad), bad).to.equal(null);
  });

  it('takes durations up to 24 days, the longest a Node timer holds, and no longer', () => {
    // past 2^31 - 1 ms a timer fires after 1 ms: DRAIN_TIMEOUT=30d ended every drain at once
    expect(MAX_DURATION_MS).to.be.at.most(2 ** 31 - 1);
    expect(parseDuration('P24D')).to.equal(MAX_DURATION_MS);
    expect(parseDuration('576h')).to.equal(MAX_DURATION_MS);
    for (const long of ['P25D', '577h', 'P1Y', 'P1000Y', '2073600001ms', '1e400s', `${'9'.repeat(400)}h`, `P${'9'.repeat(400)}Y`]) expect(parseDuration(long), long).to.equal(null);
  });

  // every setting read with parseDuration, the core's and the webhooks'
  const DURATION_VARIABLES = ['WORKER_CLEANUP_WAIT', 'FLUSH_INTERVAL', 'NODE_LEASE', 'IDEMPOTENCY_WINDOW', 'DRAIN_TIMEOUT', 'REDIS_WAIT_TIMEOUT',
    'WEBHOOK_TIMEOUT', 'WEBHOOK_DEDUPE_WINDOW', 'WEBHOOK_MAX_AGE', 'WEBHOOK_BREAK_AFTER', 'WEBHOOK_PROBE_EVERY'];
  const DURATION_FIELDS = ['workerCleanupWaitMs', 'flushIntervalMs', 'nodeLeaseMs', 'idempotencyWindowMs', 'drainTimeoutMs', 'redisWaitTimeoutMs'] as const;
  const WEBHOOK_DURATION_FIELDS = ['timeoutMs', 'dedupeWindowMs', 'maxAgeMs', 'breakAfterMs', 'probeEveryMs', 'baseBackoffMs', 'maxBackoffMs', 'stuckRunMs'] as const;

  for (const name of DURATION_VARIABLES) {
    it(`refuses ${name} past 24 days, saying so`, () => {
      expect(() => loadOptions({ [name]: 'P25D' })).to.throw(ConfigError, new RegExp(`${name}="P25D".*up to 24 days`));
    });
  }

  it('reads any duration setting either as a whole number of ms a timer holds or as a ConfigError naming it (property)', () => {
    // what an operator might write: short forms, ISO-8601 of any unit, numbers alone, junk
    const amount = fc.oneof(fc.nat({ max: 100 }), fc.nat(), fc.double({ min: 0, max: 1e12, noNaN: true }).map((n) => String(n)), fc.constantFrom('1e3', '0.0001', '-1', '9'.repeat(30)));
    const text = fc.oneof(
      fc.tuple(amount, fc.constantFrom('ms', 's', 'm', 'h', 'd', '')).map(([n, u]) => `${n}${u}`),
      fc.tuple(amount, fc.constantFrom('PT%S', 'PT%M', 'PT%H', 'P%D', 'P%W', 'P%M', 'P%Y', 'pt%s')).map(([n, f]) => f.replace(/%/, String(n))),
      fc.constantFrom('off', '0', '', ' 1h ', 'P', 'PT'),
      fc.string({ maxLength: 12 }),
    );
    fc.assert(fc.property(fc.constantFrom(...DURATION_VARIABLES), text, (name, value) => {
      let o: ReturnType<typeof loadOptions>;
      try {
        o = loadOptions({ [name]: value });
      } catch (e) {
        expect(e, `${name}=${value}`).to.be.instanceOf(ConfigError);
        expect((e as ConfigError).variable).to.equal(name);
        return;
      }
      for (const ms of [...DURATION_FIELDS.map((f) => o[f]), ...WEBHOOK_DURATION_FIELDS.map((f) => o.webhooks[f])]) {
        expect(Number.isInteger(ms) && ms >= 0 && ms <= 2 ** 31 - 1, `${name}=${value}: ${ms}`).to.equal(true);
      }
    }), { numRuns: 3000 });
  });

  it('has the documented defaults', () => {
    const o = loadOptions({});
    expect(o).to.deep.include({
      redis: undefined, redisPrefix: 'tc', registryShards: 16,
      workerCleanupWaitMs: 180_000, flushIntervalMs: 30_000, nodeLeaseMs: 20_000, logLevel: 'info', analyticsMaxLen: 100_000,
      maxMetadataBytes: 512 * 1024, idempotencyWindowMs: 120_000, drainTimeoutMs: 20_000,
      redisWaitReplicas: 0, redisWaitTimeoutMs: 500, queueShards: 0,
    });
    expect(o.coordinatorId).to.match(/-\d+$/);
    expect(o.http).to.deep.equal({ port: 7890, apiKey: 'devkey', apiSecret: 'secret', devKeys: true, maxBodyBytes: 1024 * 1024 });
    expect(o.webhooks).to.deep.equal({ ...WEBHOOK_DEFAULTS, urls: [], includeEvents: [], excludeEvents: [], apiKey: 'devkey', apiSecret: 'secret' });
    expect(o.client).to.deep.equal(CLIENT_DEFAULTS);
    // the jobs thread is handed them as they are (worker_threads copy them)
    expect(structuredClone(o)).to.deep.equal(o);
  });

  it('reads every variable', () => {
    const { http, webhooks, client, ...o } = loadOptions({
      REDIS_URL: 'redis://h:1', REDIS_PREFIX: 'x', REGISTRY_SHARDS: '4', WORKER_CLEANUP_WAIT: 'PT1M',
      FLUSH_INTERVAL: '500ms', NODE_LEASE: '5s', LOG_LEVEL: 'DEBUG', ANALYTICS_MAXLEN: '5000', NODE_ID: 'coord-1',
      MAX_METADATA: '64kb', IDEMPOTENCY_WINDOW: '2m', DRAIN_TIMEOUT: '5s', REDIS_WAIT_REPLICAS: '1', REDIS_WAIT_TIMEOUT: '2s',
      QUEUE_SHARDS: '6', PORT: '8000', MAX_BODY: '2mb', API_KEY: 'k', API_SECRET: 's', NODE_ENV: 'production',
      WEBHOOK_URLS: 'http://a/x', WEBHOOK_TIMEOUT: '2s', WEBHOOK_MAX_ATTEMPTS: '3',
    });
    expect(http).to.deep.equal({ port: 8000, apiKey: 'k', apiSecret: 's', devKeys: false, maxBodyBytes: 2 * 1024 * 1024 });
    expect(webhooks).to.deep.include({ urls: ['http://a/x'], apiKey: 'k', apiSecret: 's', timeoutMs: 2000, maxAttempts: 3 });
    expect(client).to.deep.equal(CLIENT_DEFAULTS);
    expect(o).to.deep.equal({
      redis: 'redis://h:1', redisPrefix: 'x', registryShards: 4, workerCleanupWaitMs: 60_000,
      flushIntervalMs: 500, nodeLeaseMs: 5000, logLevel: 'debug', logFormat: 'json', analyticsMaxLen: 5000, coordinatorId: 'coord-1',
      maxMetadataBytes: 65_536, idempotencyWindowMs: 120_000, drainTimeoutMs: 5000,
      redisWaitReplicas: 1, redisWaitTimeoutMs: 2000, queueShards: 6,
    });
  });

  it('reads a Redis Cluster (LiveKit\'s cluster_addresses) with an ACL user and TLS files', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'tc-tls-'));
    const ca = path.join(dir, 'ca.pem');
    writeFileSync(ca, 'not read until a connection is made');
    const o = loadOptions({
      REDIS_CLUSTER_ADDRESSES: '10.0.0.1:7000,10.0.0.2:7000', REDIS_USERNAME: 'tc', REDIS_PASSWORD: 'pw', REDIS_USE_TLS: 'true', REDIS_TLS_CA_FILE: ca,
    });
    expect(o.redis).to.deep.equal({
      cluster: [{ host: '10.0.0.1', port: 7000 }, { host: '10.0.0.2', port: 7000 }], username: 'tc', password: 'pw', tls: { ca },
    });
    expect(loadOptions({ REDIS_URL: 'rediss://h:1', REDIS_TLS_CA_FILE: ca }).redis).to.deep.equal({ url: 'rediss://h:1', tls: { ca } });
    expect(loadOptions({ REDIS_URL: 'rediss://h:1' }).redis).to.equal('rediss://h:1');
    expect(loadOptions({ QUEUE_SHARDS: 'auto' }).queueShards).to.equal(0);
    rmSync(dir, { recursive: true });
  });

  it('reads a Sentinel master (LiveKit\'s sentinel_addresses and sentinel_master_name) with its ACL users', () => {
    const o = loadOptions({
      REDIS_SENTINEL_ADDRESSES: '10.0.0.1:26379, sentinel-2:26380,[::1]:26381', REDIS_SENTINEL_MASTER_NAME: 'mymaster',
      REDIS_USERNAME: 'tc', REDIS_PASSWORD: 'pw', REDIS_SENTINEL_USERNAME: 'sen', REDIS_SENTINEL_PASSWORD: 'spw',
    });
    expect(o.redis).to.deep.equal({
      sentinels: [{ host: '10.0.0.1', port: 26379 }, { host: 'sentinel-2', port: 26380 }, { host: '::1', port: 26381 }], name: 'mymaster',
      username: 'tc', password: 'pw', sentinelUsername: 'sen', sentinelPassword: 'spw',
    });
  });

  it('logs pretty lines at a terminal unless NODE_ENV=production, JSON lines otherwise', () => {
    expect(logFormatOf({}, true)).to.equal('pretty');
    expect(logFormatOf({ NODE_ENV: 'development' }, true)).to.equal('pretty');
    expect(logFormatOf({ NODE_ENV: 'production' }, true)).to.equal('json');
    expect(logFormatOf({}, false)).to.equal('json');
    expect(loadOptions({}).logFormat).to.equal(process.stdout.isTTY ? 'pretty' : 'json');
  });

  it('signs webhooks with the dev keys when the node runs with them (as npm start always has)', () => {
    expect(loadOptions({ WEBHOOK_URLS: 'http://a/x' }).webhooks).to.deep.include({ apiKey: 'devkey', apiSecret: 'secret' });
    expect(loadOptions({ WEBHOOK_URLS: 'http://a/x', API_KEY: 'k' }).webhooks).to.deep.include({ apiKey: 'devkey', apiSecret: 'secret' });
    // alone, the webhook loader wants the keys (what a library user hands it is all it has)
    expect(() => loadWebhookOptions({ WEBHOOK_URLS: 'http://a/x' })).to.throw(ConfigError, /API_KEY.*API_SECRET both set/);
  });

  // one refusal per part, through the one loader; the client part has none (no variable sets it)
  const parts: [string, Record<string, string>, RegExp][] = [
    ['core', { NODE_LEASE: 'soon' }, /NODE_LEASE="soon"/],
    ['redis', { REDIS_URL: 'localhost:6379' }, /REDIS_URL="localhost:6379".*redis:\/\//],
    ['http', { PORT: '0' }, /PORT="0".*port number from 1 to 65535/],
    ['http', { MAX_BODY: 'big' }, /MAX_BODY="big".*a size/],
    ['http', { NODE_ENV: 'production' }, /API_KEY="".*both set when NODE_ENV=production/],
    ['webhooks', { WEBHOOK_TIMEOUT: '1ms' }, /WEBHOOK_TIMEOUT="1ms".*at least 10ms/],
    ['webhooks', { WEBHOOK_URLS: 'ftp://x' }, /WEBHOOK_URLS="ftp:\/\/x"/],
    // the first part's error wins: core, then http, then webhooks
    ['core before http', { REGISTRY_SHARDS: '0', PORT: '0' }, /REGISTRY_SHARDS="0"/],
    ['http before webhooks', { PORT: '0', WEBHOOK_TIMEOUT: '1ms' }, /PORT="0"/],
  ];
  for (const [part, env, message] of parts) {
    it(`loadOptions refuses ${part}: ${JSON.stringify(env)}`, () => {
      expect(() => loadOptions(env)).to.throw(ConfigError, message);
    });
  }

  it('reads the HTTP part alone too', () => {
    expect(loadHttpOptions({})).to.deep.include({ port: 7890, devKeys: true });
    expect(loadHttpOptions({ API_KEY: 'k', API_SECRET: 's' })).to.deep.include({ apiKey: 'k', apiSecret: 's', devKeys: false });
    expect(() => loadHttpOptions({ PORT: '70000' })).to.throw(ConfigError, /PORT="70000"/);
  });

  const contradictions: [Record<string, string>, RegExp][] = [
    [{ REDIS_URL: 'redis://h:1', REDIS_SENTINEL_ADDRESSES: 'h:26379', REDIS_SENTINEL_MASTER_NAME: 'm' }, /REDIS_SENTINEL_ADDRESSES=.*REDIS_URL unset/],
    [{ REDIS_SENTINEL_ADDRESSES: 'h:26379' }, /REDIS_SENTINEL_MASTER_NAME="".*master name/],
    [{ REDIS_SENTINEL_MASTER_NAME: 'm' }, /REDIS_SENTINEL_MASTER_NAME="m".*REDIS_SENTINEL_ADDRESSES set with it/],
    [{ REDIS_SENTINEL_ADDRESSES: 'h', REDIS_SENTINEL_MASTER_NAME: 'm' }, /REDIS_SENTINEL_ADDRESSES="h".*host:port/],
    [{ REDIS_SENTINEL_ADDRESSES: 'h:70000', REDIS_SENTINEL_MASTER_NAME: 'm' }, /REDIS_SENTINEL_ADDRESSES="h:70000"/],
    [{ REDIS_URL: 'redis://h:1', REDIS_CLUSTER_ADDRESSES: 'h:7000' }, /REDIS_CLUSTER_ADDRESSES="h:7000".*REDIS_URL unset/],
    [{ REDIS_CLUSTER_ADDRESSES: 'h:7000', REDIS_SENTINEL_ADDRESSES: 'h:26379', REDIS_SENTINEL_MASTER_NAME: 'm' }, /REDIS_CLUSTER_ADDRESSES=.*REDIS_SENTINEL_ADDRESSES unset/],
    [{ REDIS_CLUSTER_ADDRESSES: 'h' }, /REDIS_CLUSTER_ADDRESSES="h".*host:port/],
    [{ REDIS_URL: 'redis://h:1', REDIS_USE_TLS: 'true' }, /REDIS_USE_TLS="true".*rediss:\/\//],
    [{ REDIS_URL: 'redis://h:1', REDIS_PASSWORD: 'secret' }, /REDIS_PASSWORD="\(hidden\)".*in the URL/],
    [{ REDIS_URL: 'redis://h:1', REDIS_TLS_CA_FILE: '/etc/hostname' }, /REDIS_TLS_CA_FILE=.*TLS on/],
    [{ REDIS_CLUSTER_ADDRESSES: 'h:7000', REDIS_USE_TLS: 'true', REDIS_TLS_CA_FILE: '/nonexistent/ca.pem' }, /REDIS_TLS_CA_FILE="\/nonexistent\/ca.pem".*readable PEM/],
    [{ REDIS_CLUSTER_ADDRESSES: 'h:7000', REDIS_USE_TLS: 'true', REDIS_TLS_CERT_FILE: '/etc/hostname' }, /REDIS_TLS_KEY_FILE="".*REDIS_TLS_CERT_FILE/],
    [{ REDIS_USE_TLS: 'true' }, /REDIS_USE_TLS="true".*a Redis to use it with/],
    [{ REDIS_USE_TLS: 'yes', REDIS_CLUSTER_ADDRESSES: 'h:7000' }, /REDIS_USE_TLS="yes".*true or false/],
    [{ REDIS_USERNAME: 'u' }, /REDIS_USERNAME="u".*a Redis to use it with/],
  ];
  for (const [env, message] of contradictions) {
    it(`refuses ${Object.keys(env).join(' + ')} as given, naming the setting`, () => {
      expect(() => loadOptions(env)).to.throw(ConfigError, message);
    });
  }

  it('hides credentials in the URLs an error shows, however malformed', () => {
    for (const [text, shown] of [
      ['http://u:p@h/x', 'http://***@h/x'], ['redis://:pw@h:1,redis://a:b@h:2', 'redis://***@h:2'], ['h:1,h:2', 'h:1,h:2'],
      ['redis://:pa/s,s@h', 'redis://***@h'], ['pw@h:7000', '***@h:7000'], ['http://h/p@q', 'http://***@q'],
    ]) expect(redactUrl(text), text).to.equal(shown);
  });

  it('never shows a password written into a Redis or webhook URL setting, in an error or the start-up log (property)', () => {
    const SECRET = 'Zq9sEcReT';
    // where an operator might put it: user, password, a bare token; with the bytes a password holds unescaped
    const secretish = fc.tuple(fc.constantFrom('', 'user', 'a/b', 'x,y'), fc.constantFrom(':', '', ':p/', ':p,q', ':p@'), fc.constantFrom(SECRET, `${SECRET}/x`, `${SECRET},y`, `a@${SECRET}`))
      .map(([user, sep, pw]) => `${user}${sep}${pw}`);
    const host = fc.constantFrom('h:6379', '127.0.0.1:1', '[::1]:7000', 'h', 'h:99999', '');
    const value = fc.tuple(fc.constantFrom('redis://', 'rediss://', 'http://', 'https://', 'ftp://', '', '//', 'redis:/'), secretish, host, fc.constantFrom('', '/0', '/hook', ',h:2', ',redis://h:2'))
      .map(([scheme, cred, h, tail]) => `${scheme}${cred}@${h}${tail}`);
    const variable = fc.constantFrom('REDIS_URL', 'REDIS_CLUSTER_ADDRESSES', 'REDIS_SENTINEL_ADDRESSES', 'WEBHOOK_URLS');
    fc.assert(fc.property(variable, value, fc.boolean(), (name, v, twice) => {
      // with twice, another topology is named too: the contradiction's error shows this value
      const env: Record<string, string> = { [name]: v, API_KEY: 'k', API_SECRET: 's', REDIS_SENTINEL_MASTER_NAME: 'm', ...(twice && name !== 'REDIS_URL' && name !== 'WEBHOOK_URLS' ? { REDIS_URL: 'redis://h:1' } : {}) };
      if (name !== 'REDIS_SENTINEL_ADDRESSES') delete env.REDIS_SENTINEL_MASTER_NAME;
      let o: ReturnType<typeof loadOptions> | undefined;
      try {
        o = loadOptions(env);
      } catch (e) {
        expect(e, `${name}=${v}`).to.be.instanceOf(ConfigError);
        expect((e as Error).message, `${name}=${v}`).to.not.include(SECRET);
      }
      if (!o) return;
      // accepted: an '@' in a URL's path is no credential (a URL's path is the operator's to choose)
      for (const u of o.webhooks.urls) expect(new URL(u).username + new URL(u).password, `${name}=${v}`).to.equal('');
      if (o.redis) expect(describeTarget(o.redis), `${name}=${v}`).to.not.include(SECRET);
    }), { numRuns: 2000 });
  });

  const bad: [string, string, RegExp][] = [
    ['FLUSH_INTERVAL', '30 seconds', /FLUSH_INTERVAL="30 seconds".*500ms, 30s, 3m, 1h.*PT3M/],
    ['WORKER_CLEANUP_WAIT', 'soon', /WORKER_CLEANUP_WAIT="soon"/],
    ['NODE_LEASE', '10ms', /NODE_LEASE="10ms".*at least 1000ms/],
    ['REGISTRY_SHARDS', '0', /REGISTRY_SHARDS="0".*whole number from 1 to 1024/],
    ['REDIS_URL', 'localhost:6379', /REDIS_URL="localhost:6379".*redis:\/\//],
    ['REDIS_PREFIX', 'a{b}', /REDIS_PREFIX="a\{b\}".*hash tags/],
    ['LOG_LEVEL', 'loud', /LOG_LEVEL="loud".*one of fatal/],
    ['ANALYTICS_MAXLEN', '10', /ANALYTICS_MAXLEN="10".*whole number from 100/],
    ['NODE_ID', 'a b', /NODE_ID="a b"/],
    ['MAX_METADATA', 'lots', /MAX_METADATA="lots".*512kb/],
    ['IDEMPOTENCY_WINDOW', '10ms', /IDEMPOTENCY_WINDOW="10ms".*at least 1000ms/],
    ['QUEUE_SHARDS', '0', /QUEUE_SHARDS="0".*whole number from 1 to 256/],
    ['REDIS_WAIT_REPLICAS', 'one', /REDIS_WAIT_REPLICAS="one".*whole number from 0 to 100/],
    ['REDIS_WAIT_TIMEOUT', '0ms', /REDIS_WAIT_TIMEOUT="0ms".*at least 1ms/],
  ];
  for (const [name, value, message] of bad) {
    it(`rejects ${name}=${value} naming the variable, the value and what is accepted`, () => {
      expect(() => loadOptions({ [name]: value })).to.throw(ConfigError, message);
    });
  }
});

describe('webhook configuration', () => {
  it('has the documented defaults', () => {
    const o = loadWebhookOptions({});
    expect(o).to.deep.include({ urls: [], timeoutMs: 10_000, maxAttempts: 12, baseBackoffMs: 1000, maxBackoffMs: 300_000 });
    expect(WEBHOOK_DEFAULTS.maxAttempts).to.equal(12);
    expect(o.maxAgeMs).to.equal(0); // WEBHOOK_MAX_AGE off: the retries' ~1 h
    expect(o).to.deep.include({ breakAfterMs: 300_000, probeEveryMs: 60_000 }); // WEBHOOK_BREAK_AFTER 5m, WEBHOOK_PROBE_EVERY 1m
    expect(o).to.deep.include({ maxInFlight: 100, rateLimit: 0 }); // WEBHOOK_MAX_IN_FLIGHT 100, WEBHOOK_RATE_LIMIT off
  });

  it('reads the per-URL limits', () => {
    expect(loadWebhookOptions({ WEBHOOK_MAX_IN_FLIGHT: '4', WEBHOOK_RATE_LIMIT: '2.5' })).to.deep.include({ maxInFlight: 4, rateLimit: 2.5 });
    expect(loadWebhookOptions({ WEBHOOK_MAX_IN_FLIGHT: 'off', WEBHOOK_RATE_LIMIT: 'off' })).to.deep.include({ maxInFlight: 0, rateLimit: 0 });
    expect(loadWebhookOptions({ WEBHOOK_MAX_IN_FLIGHT: '0', WEBHOOK_RATE_LIMIT: '0' })).to.deep.include({ maxInFlight: 0, rateLimit: 0 });
  });

  it('reads the circuit breaker\'s settings', () => {
    expect(loadWebhookOptions({ WEBHOOK_BREAK_AFTER: '1s', WEBHOOK_PROBE_EVERY: '500ms' })).to.deep.include({ breakAfterMs: 1000, probeEveryMs: 500 });
    expect(loadWebhookOptions({ WEBHOOK_BREAK_AFTER: 'off' }).breakAfterMs).to.equal(0);
  });

  for (const [text, ms] of [['30s', 30_000], ['PT2M', 120_000], ['1s', 1000], ['off', 0], ['0', 0], ['', 0]] as const) {
    it(`reads WEBHOOK_MAX_AGE=${JSON.stringify(text)} as ${ms} ms`, () => {
      expect(loadWebhookOptions({ WEBHOOK_MAX_AGE: text }).maxAgeMs).to.equal(ms);
    });
  }

  it('reads URLs, filters, keys and limits', () => {
    const o = loadWebhookOptions({
      WEBHOOK_URLS: 'http://a/x, https://b/y', WEBHOOK_INCLUDE_EVENTS: 'room_started', WEBHOOK_EXCLUDE_EVENTS: 'track_published,track_unpublished',
      API_KEY: 'k', API_SECRET: 's', WEBHOOK_TIMEOUT: '2s', WEBHOOK_MAX_ATTEMPTS: '3',
    });
    expect(o).to.deep.include({ urls: ['http://a/x', 'https://b/y'], includeEvents: ['room_started'], excludeEvents: ['track_published', 'track_unpublished'], timeoutMs: 2000, maxAttempts: 3 });
    expect(wantsEvent(o, 'room_started')).to.equal(true);
    expect(wantsEvent(o, 'participant_joined')).to.equal(false);
    expect(wantsEvent({ includeEvents: [], excludeEvents: ['track_published'] }, 'track_published')).to.equal(false);
  });

  const bad: [Record<string, string>, RegExp][] = [
    [{ WEBHOOK_URLS: 'ftp://x', API_KEY: 'k', API_SECRET: 's' }, /WEBHOOK_URLS="ftp:\/\/x".*http/],
    [{ WEBHOOK_URLS: 'http://x' }, /API_KEY.*API_SECRET both set/],
    [{ WEBHOOK_TIMEOUT: 'soon' }, /WEBHOOK_TIMEOUT="soon"/],
    [{ WEBHOOK_MAX_ATTEMPTS: '0' }, /WEBHOOK_MAX_ATTEMPTS="0".*1 to 100/],
    [{ WEBHOOK_MAX_AGE: '500ms' }, /WEBHOOK_MAX_AGE="500ms".*at least 1s, or off/],
    [{ WEBHOOK_BREAK_AFTER: 'soon' }, /WEBHOOK_BREAK_AFTER="soon".*or off/],
    [{ WEBHOOK_PROBE_EVERY: '10ms' }, /WEBHOOK_PROBE_EVERY="10ms".*at least 100ms/],
    [{ WEBHOOK_MAX_AGE: 'soon' }, /WEBHOOK_MAX_AGE="soon"/],
    [{ WEBHOOK_MAX_IN_FLIGHT: '-1' }, /WEBHOOK_MAX_IN_FLIGHT="-1".*or off/],
    [{ WEBHOOK_RATE_LIMIT: 'fast' }, /WEBHOOK_RATE_LIMIT="fast".*events per second/],
  ];
  for (const [env, message] of bad) {
    it(`rejects ${JSON.stringify(env)}`, () => {
      expect(() => loadWebhookOptions(env)).to.throw(ConfigError, message);
    });
  }

  it('refuses a webhook URL with user:password@, which would never be sent, without echoing the password', () => {
    // the signed token takes the Authorization header: node:http drops the URL's credentials
    for (const u of ['https://hookuser:hookpass@receiver.example/hook', 'http://hookpass@127.0.0.1:9/x', 'http://:hookpass@h/x']) {
      expect(() => loadWebhookOptions({ WEBHOOK_URLS: `http://ok/x,${u}`, API_KEY: 'k', API_SECRET: 's' }))
        .to.throw(ConfigError, /WEBHOOK_URLS=".*\*\*\*@.*without user:password@/).with.property('message').that.does.not.include('hookpass');
    }
  });

  it('refuses a URL listed twice, which would share one set of lanes, slots and dead letters', () => {
    // named by origin and tag, as logs name it: its path may be the receiver's secret
    expect(() => loadWebhookOptions({ WEBHOOK_URLS: 'http://a/s3cret, http://b/y,http://a/s3cret', API_KEY: 'k', API_SECRET: 's' }))
      .to.throw(ConfigError, /WEBHOOK_URLS="http:\/\/a\/… \(wu:[0-9a-f]{12}\)".*each URL once/).with.property('message').that.does.not.include('s3cret');
  });

  it('never puts the secret in an error', () => {
    expect(() => loadWebhookOptions({ WEBHOOK_URLS: 'http://x', API_KEY: 'k', API_SECRET: '' })).to.throw(ConfigError).with.property('message').that.does.not.include('s3cret');
  });
});
