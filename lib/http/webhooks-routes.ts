import type { FastifyInstance, preHandlerAsyncHookHandler } from 'fastify';
import type { Coordinator } from '../coordinator';
import { InvalidRequestError } from '../registry/validate';
import { WEBHOOK } from '../telemetry/events';
import type { ReplayRequest } from '../webhooks/operations';
import { redactWebhookUrl, webhookUrlTag } from '../webhook-url';

const EVENT_NAMES: readonly string[] = Object.values(WEBHOOK);
const REPLAY_FIELDS = ['url', 'since', 'until', 'event'];

/** The latest instant a JavaScript Date holds (year 275760): past it, a time cannot even be logged. */
const LATEST_MS = 8.64e15;

/** An instant given as ISO-8601 or as epoch milliseconds (a number, or digits), from 1970 to year 275760. */
function readInstant(field: string, v: unknown): number {
  let t = NaN;
  if (typeof v === 'number') t = v;
  else if (typeof v === 'string' && v.trim() !== '') {
    t = /^\d+$/.test(v.trim()) ? Number(v.trim()) : /^\d{4}-\d{2}-\d{2}/.test(v.trim()) ? Date.parse(v) : NaN;
  }
  if (Number.isFinite(t) && t >= 0 && t <= LATEST_MS) return t;
  throw new InvalidRequestError(field, `an ISO-8601 time (2024-05-01T12:00:00Z) or epoch milliseconds, from 1970 to ${LATEST_MS} (year 275760)`);
}

/** The configured URL `given` names: the URL as written in WEBHOOK_URLS, or its tag as logs show it (`wu:1a2b3c4d5e6f`). */
function namedUrl(given: unknown, urls: readonly string[]): string | undefined {
  if (typeof given !== 'string') return undefined;
  if (urls.includes(given)) return given;
  const tag = given.trim().replace(/^\(?wu:/, '').replace(/\)$/, '');
  return /^[0-9a-f]{12}$/.test(tag) ? urls.find((u) => webhookUrlTag(u) === tag) : undefined;
}

/** The body of POST /v1/webhooks/replay, checked field by field against the configured URLs. */
export function readReplayRequest(body: unknown, urls: readonly string[], now = Date.now()): ReplayRequest {
  if (!body || typeof body !== 'object' || Array.isArray(body)) throw new InvalidRequestError('body', 'a JSON object { url, since, until?, event? }');
  const b = body as Record<string, unknown>;
  for (const field of Object.keys(b)) {
    if (!REPLAY_FIELDS.includes(field)) throw new InvalidRequestError(field, 'not a field of a replay (url, since, until, event)');
  }
  const url = namedUrl(b.url, urls);
  if (url === undefined) {
    // the URLs by origin and tag: a receiver's path or query may be its secret
    throw new InvalidRequestError('url', urls.length ? `one of WEBHOOK_URLS, or its tag (${urls.map(redactWebhookUrl).join(', ')})` : 'no webhook URL is configured (WEBHOOK_URLS)');
  }
  if (b.since === undefined) throw new InvalidRequestError('since', 'required: an ISO-8601 time or epoch milliseconds');
  const sinceMs = readInstant('since', b.since);
  const untilMs = b.until === undefined ? now : readInstant('until', b.until);
  if (untilMs < sinceMs) throw new InvalidRequestError('until', 'before since');
  if (b.event !== undefined && (typeof b.event !== 'string' || !EVENT_NAMES.includes(b.event))) {
    throw new InvalidRequestError('event', `a webhook event name (${EVENT_NAMES.join(', ')})`);
  }
  return { url, sinceMs, untilMs, ...(b.event === undefined ? {} : { event: b.event as string }) };
}

/**
 * The operator's webhook API, behind the same token auth as the rest: each URL's delivery
 * state (GET /v1/webhooks) and replaying its dead letters (POST /v1/webhooks/replay). Both
 * read and write Redis only, so any node answers, whichever delivers.
 */
export function registerWebhookRoutes(app: FastifyInstance, coordinator: Coordinator, authenticate: preHandlerAsyncHookHandler): void {
  app.get('/v1/webhooks', { preHandler: authenticate }, async () => ({ urls: coordinator.webhooks ? await coordinator.webhooks.operations.report() : [] }));

  app.post('/v1/webhooks/replay', { preHandler: authenticate }, async (req) => {
    const request = readReplayRequest(req.body, coordinator.webhooks?.operations.urls ?? []);
    const replayed = await coordinator.webhooks!.operations.replay(request);
    return { replayed };
  });
}
