import { spawn } from 'node:child_process';
import path from 'node:path';
import { expect } from 'chai';

/** `npm run simulate`, small: a healthy fleet loses nothing, reorders nothing, repeats nothing. */
describe('npm run simulate', function () {
  this.timeout(120_000);

  it('3 coordinator nodes, SFU nodes resuming, aborting and one dying: lost, out of order and duplicates are 0', async () => {
    const root = path.join(__dirname, '..', '..');
    const child = spawn(process.execPath, ['--import', 'tsx', 'scripts/simulate.ts', '--rooms', '6', '--participants', '4', '--sfus', '3', '--die', '1', '--seconds', '10', '--resume', '0.3', '--abort', '0.2'], {
      cwd: root, stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => { out += d.toString('utf8'); });
    child.stderr.on('data', (d: Buffer) => { out += d.toString('utf8'); });
    const code = await new Promise<number | null>((r) => child.once('exit', (c) => r(c)));
    expect(out).to.match(/^lost\s+0$/m);
    expect(out).to.match(/^out of order\s+0$/m);
    expect(out).to.match(/^duplicates\s+0$/m);
    expect(out).to.match(/^participants with joined\/left matched\s+(\d+) \/ \1$/m);
    expect(out).to.match(/^SFU nodes \(died without a word\)\s+3 \(1\)$/m);
    expect(code, out).to.equal(0);
  });
});
