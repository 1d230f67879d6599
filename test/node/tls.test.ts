import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createRedis } from '../../lib/redis/connection';
import { freePort, PrivateRedis } from '../../lib/redis/server';
import { runHttpNodeToExit, startHttpNode, stopNodeProcess } from '../support/processes';
import { until } from '../support/redis';

/** A CA, a server certificate for 127.0.0.1 and a client certificate, made with openssl. */
function makeCertificates(dir: string) {
  const f = (name: string) => path.join(dir, name);
  const openssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'ignore' });
  openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=tc-test-ca');
  writeFileSync(f('server.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
  for (const who of ['server', 'client']) {
    openssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${who}.key`, '-out', `${who}.csr`, '-subj', `/CN=tc-test-${who}`);
    openssl('x509', '-req', '-in', `${who}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', `${who}.pem`, '-days', '2',
      ...(who === 'server' ? ['-extfile', 'server.ext'] : []));
  }
  return { ca: f('ca.pem'), serverCert: f('server.pem'), serverKey: f('server.key'), cert: f('client.pem'), key: f('client.key') };
}

describe('Redis over TLS (rediss:// with a private CA and a client certificate)', () => {
  let dir: string;
  let server: PrivateRedis;
  let files: ReturnType<typeof makeCertificates>;

  before(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'tc-tls-'));
    files = makeCertificates(dir);
    const port = await freePort();
    // TLS only (the plain port off), and only clients with a certificate of the CA
    server = await PrivateRedis.start({
      port,
      extraArgs: ['--port', '0', '--tls-port', String(port), '--tls-cert-file', files.serverCert, '--tls-key-file', files.serverKey,
        '--tls-ca-cert-file', files.ca, '--tls-auth-clients', 'yes'],
    });
  });
  after(async () => {
    await server?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('a node given REDIS_TLS_CA_FILE, REDIS_TLS_CERT_FILE and REDIS_TLS_KEY_FILE runs on it', async () => {
    const url = `rediss://127.0.0.1:${server.port}`;
    const port = await freePort();
    const node = await startHttpNode({
      PORT: String(port), REDIS_URL: url, REDIS_TLS_CA_FILE: files.ca, REDIS_TLS_CERT_FILE: files.cert, REDIS_TLS_KEY_FILE: files.key,
    });
    try {
      const ready = await until(async () => {
        const res = await fetch(`http://127.0.0.1:${port}/readyz`).catch(() => null);
        return res?.status === 200 ? res.json() : null;
      }, 'the node to be ready');
      expect(ready).to.deep.equal({ redis: true, workers: true });
      // what the node wrote is there, read back over TLS by the same factory
      const admin = createRedis({ url, tls: { ca: files.ca, cert: files.cert, key: files.key } });
      try {
        expect(await admin.get('tc:{fleet}:queue-shards')).to.equal('1');
        expect((await admin.keys('{tc:bull}:telemetry:*')).length).to.be.greaterThan(0);
      } finally {
        admin.disconnect();
      }
    } finally {
      await stopNodeProcess(node);
    }
  });

  it('a node without the CA refuses the server\'s certificate and exits non-zero', async () => {
    const { code, output } = await runHttpNodeToExit({
      PORT: String(await freePort()), REDIS_URL: `rediss://127.0.0.1:${server.port}`, REDIS_TLS_CERT_FILE: files.cert, REDIS_TLS_KEY_FILE: files.key,
    });
    expect(code).to.not.equal(0);
    expect(output).to.match(/self[- ]signed certificate|unable to verify/i);
  });
});
