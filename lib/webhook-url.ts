import { createHash } from 'node:crypto';

// At the root of lib/, beside log.ts: the logger shows webhook URLs as webhooks/ names them,
// and webhooks/ logs through it, so this sits below both.

/** A webhook URL's short name in Redis keys (its hash tag, `{wu:<tag>}`). */
export function webhookUrlTag(url: string): string {
  return createHash('sha1').update(url).digest('hex').slice(0, 12);
}

/**
 * A webhook URL as logs and error messages show it: its origin, and its tag in place of its
 * path and query (`https://hooks.example.com/… (wu:1a2b3c4d5e6f)`). Receivers commonly take
 * their secret in the path or the query (Slack-, Discord- and Zapier-style hooks), and logs
 * travel further than the settings. The tag tells URLs of one origin apart; `GET
 * /v1/webhooks` gives each URL beside its tag.
 */
export function redactWebhookUrl(url: string): string {
  const tag = `(wu:${webhookUrlTag(url)})`;
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return `(not a URL) ${tag}`;
  }
  if (u.origin === 'null') return `(a ${u.protocol} URL) ${tag}`;
  const rest = u.pathname !== '/' || u.search !== '' || u.hash !== '';
  return `${u.origin}/${rest ? '…' : ''} ${tag}`;
}
