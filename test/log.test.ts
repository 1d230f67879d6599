import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import fc from 'fast-check';
import { redactWebhookUrl, webhookUrlTag } from '../lib/webhook-url';

const TSX = pathToFileURL(require.resolve('tsx')).href;
const LOG = path.join(__dirname, '..', 'lib', 'log.ts');

/** What a process writes to its stdout (a pipe, as under any supervisor) logging one entry of `fields` in `format`. */
function logOnce(format: 'json' | 'pretty', fields: Record<string, unknown> = { apiSecret: 's3cret', n: 1 }): string {
  const code = `const { createLogger } = require(${JSON.stringify(LOG)});
    createLogger('info', { node: 'n1' }, ${JSON.stringify(format)}).info(${JSON.stringify(fields)}, 'hello');`;
  const out = execFileSync(process.execPath, ['--import', TSX, '-e', code], { encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } });
  return out.replace(/\x1b\[[0-9;]*m/g, ''); // colours, should a terminal's settings force them
}

describe('log lines', function () {
  this.timeout(30_000);

  it('pretty: one line per entry, time, level and message, then the fields; secrets still redacted', () => {
    const lines = logOnce('pretty').split('\n').filter(Boolean);
    expect(lines).to.have.length(1);
    expect(lines[0]).to.match(/^\[\d\d:\d\d:\d\d\.\d{3}\] INFO: hello \{"apiSecret":"\[redacted\]","n":1\}$/);
  });

  it('json: one JSON object per line, as before', () => {
    const lines = logOnce('json').split('\n').filter(Boolean);
    expect(lines).to.have.length(1);
    expect(JSON.parse(lines[0])).to.deep.include({ level: 30, msg: 'hello', node: 'n1', apiSecret: '[redacted]', n: 1 });
  });

  it('json: a webhook URL under url or urls by its origin and tag; a request path as it is', () => {
    const hook = 'https://hooks.example.com/services/T0/B0/S3CRET?token=S3CRET';
    const line = JSON.parse(logOnce('json', { url: hook, urls: [hook, 'http://127.0.0.1:8080/'] }).trim());
    expect(line.url).to.equal(`https://hooks.example.com/… (wu:${webhookUrlTag(hook)})`);
    expect(line.urls).to.deep.equal([line.url, `http://127.0.0.1:8080/ (wu:${webhookUrlTag('http://127.0.0.1:8080/')})`]);
    expect(JSON.parse(logOnce('json', { url: '/v1/telemetry?x=1' }).trim()).url).to.equal('/v1/telemetry?x=1');
  });

  it('a webhook URL as shown: its origin and tag, whatever its path, query or fragment hold (property)', () => {
    fc.assert(fc.property(
      fc.webUrl({ withQueryParameters: true, withFragments: true }),
      fc.constantFrom('path', 'query', 'fragment'),
      fc.hexaString({ minLength: 1, maxLength: 40 }),
      (base, where, rest) => {
        const u = new URL(base);
        // upper case: a host is lower-cased, so the secret cannot be read off it by chance
        const secret = `S3CRET${rest.toUpperCase()}`;
        if (where === 'path') u.pathname += `/${secret}`;
        else if (where === 'query') u.searchParams.append('token', secret);
        else u.hash = secret;
        const url = u.toString();
        const shown = redactWebhookUrl(url);
        expect(shown).to.not.include(secret);
        expect(shown).to.equal(`${u.origin}/… (wu:${webhookUrlTag(url)})`);
      },
    ), { numRuns: 1000 });
  });
});
