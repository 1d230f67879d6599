import { expect } from 'chai';
import { ConfigError } from '../../lib/config/options';
import { loadWebhookOptions } from '../../lib/config/webhooks';
import { WEBHOOK_DEFAULTS } from '../../lib/webhooks/options';

describe('webhook configuration: WEBHOOK_DEDUPE_WINDOW', () => {
  it('defaults to an hour', () => {
    expect(loadWebhookOptions({}).dedupeWindowMs).to.equal(3_600_000);
    expect(WEBHOOK_DEFAULTS.dedupeWindowMs).to.equal(3_600_000);
  });

  for (const [text, ms] of [['30m', 1_800_000], ['PT2H', 7_200_000], ['1s', 1000], [' 90s ', 90_000]] as const) {
    it(`reads ${JSON.stringify(text)} as ${ms} ms`, () => {
      expect(loadWebhookOptions({ WEBHOOK_DEDUPE_WINDOW: text }).dedupeWindowMs).to.equal(ms);
    });
  }

  for (const text of ['500ms', 'soon', '-1h']) {
    it(`rejects ${JSON.stringify(text)}`, () => {
      expect(() => loadWebhookOptions({ WEBHOOK_DEDUPE_WINDOW: text })).to.throw(ConfigError, new RegExp(`WEBHOOK_DEDUPE_WINDOW="${text}".*at least 1s`));
    });
  }
});
