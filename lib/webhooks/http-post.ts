import http from 'node:http';
import https from 'node:https';

/**
 * POSTs over kept-alive connections (node:http), several times cheaper per request than
 * fetch here; resolves with the status, rejects on network errors and on the time limit.
 */
const agents = { 'http:': new http.Agent({ keepAlive: true, maxSockets: 256 }), 'https:': new https.Agent({ keepAlive: true, maxSockets: 256 }) };

/**
 * An answer's body is read only so that its connection can be kept: past this many bytes
 * the connection is dropped instead, the status already known.
 */
export const MAX_ANSWER_BYTES = 64 * 1024;

/** What a receiver answered: its status, and its `Retry-After` header as written, if any. */
export interface Answer {
  status: number;
  retryAfter?: string;
}

/**
 * `timeoutMs` bounds the whole attempt, from sending to the answer's last byte, as Go's
 * http.Client.Timeout does for LiveKit: a socket idle timeout alone let a receiver that
 * sends a byte now and then hold an attempt, its lane and its URL slot for as long as it
 * liked. An answer whose status came counts as given even if its body is then cut short
 * (by the deadline, the size cap or a reset): LiveKit's client reads no further either.
 */
export function httpPost(url: string, body: string, headers: Record<string, string>, timeoutMs: number): Promise<Answer> {
  const u = new URL(url);
  const lib = u.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    let status = 0; // the answer's, once its head came
    let retryAfter: string | undefined;
    let settled = false;
    const settle = (error?: Error) => {
      if (settled) return;
      settled = true;
      clearTimeout(deadline);
      if (status > 0) resolve(retryAfter === undefined ? { status } : { status, retryAfter });
      else reject(error);
    };
    const req = lib.request(u, {
      method: 'POST', agent: agents[u.protocol as 'http:' | 'https:'],
      headers: { ...headers, 'Content-Length': Buffer.byteLength(body) },
    }, (res) => {
      status = res.statusCode ?? 0;
      retryAfter = res.headers['retry-after'];
      let bytes = 0;
      res.on('data', (chunk: Buffer) => {
        bytes += chunk.length;
        if (bytes > MAX_ANSWER_BYTES) {
          settle();
          req.destroy();
        }
      });
      res.on('end', () => settle());
      res.on('error', settle);
      // every answer closes, after its end: the error (a stack trace's cost) only when it ended short
      res.on('close', () => { if (!settled) settle(new Error('the answer was cut short')); });
    });
    const deadline = setTimeout(() => {
      const error = Object.assign(new Error(`timed out after ${timeoutMs}ms`), { name: 'TimeoutError' });
      settle(error);
      req.destroy(error);
    }, timeoutMs);
    req.on('error', settle);
    req.on('close', () => { if (!settled) settle(new Error('the connection closed before an answer')); });
    req.end(body);
  });
}
