import http from 'node:http';
import https from 'node:https';

/**
 * POSTs over kept-alive connections (node:http), several times cheaper per request than
 * fetch here; resolves with the status, rejects on network errors and on the time limit.
 */
const agents = { 'http:': new http.Agent({ keepAlive: true, maxSockets: 256 }), 'https:': new https.Agent({ keepAlive: true, maxSockets: 256 }) };

export function httpPost(url: string, body: string, headers: Record<string, string>, timeoutMs: number): Promise<number> {
  const u = new URL(url);
  const lib = u.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    const req = lib.request(u, {
      method: 'POST', agent: agents[u.protocol as 'http:' | 'https:'],
      headers: { ...headers, 'Content-Length': Buffer.byteLength(body) },
    }, (res) => {
      res.resume(); // drain, so the connection is reused
      res.on('end', () => resolve(res.statusCode ?? 0));
      res.on('error', reject);
    });
    req.setTimeout(timeoutMs, () => req.destroy(Object.assign(new Error(`timed out after ${timeoutMs}ms`), { name: 'TimeoutError' })));
    req.on('error', reject);
    req.end(body);
  });
}
