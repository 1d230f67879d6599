import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const TSX = pathToFileURL(require.resolve('tsx')).href;
const LOG = path.join(__dirname, '..', 'lib', 'log.ts');

/** What a process writes to its stdout (a pipe, as under any supervisor) logging one entry in `format`. */
function logOnce(format: 'json' | 'pretty'): string {
  const code = `const { createLogger } = require(${JSON.stringify(LOG)});
    createLogger('info', { node: 'n1' }, ${JSON.stringify(format)}).info({ apiSecret: 's3cret', n: 1 }, 'hello');`;
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
});
