import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { KeySpace } from '../../lib/redis/keys';

/*
 * docs/registry.md's key table against lib/redis/keys.ts: every key KeySpace can build is a
 * row of the table, and every row is a key KeySpace builds.
 *
 * How: KeySpace only concatenates what it is given, so each builder is called with the
 * doc's placeholders themselves as its string arguments ('<prefix>', '<wid>', '<nodeId>',
 * ...): the key it returns is already in the doc's form. The two numeric arguments (the
 * shard and the idempotency time slice) are given sample numbers that appear nowhere else
 * and replaced by '<n>' and '<slice>'. The table is read as it is written (the first cell of
 * each row of the first table under "## Keys", one `code span`), not by searching the page
 * for each key, so a key mentioned in passing elsewhere does not count as documented.
 *
 * A builder added to KeySpace fails this test twice over: `BUILDERS` below must name every
 * method (the type says so, and the run checks the class's own methods), and the key it
 * builds must then be a row of the table.
 */

const SHARD = 7919;
const SLICE = 104729;

/** KeySpace's methods that return a key (or a group of keys), and those that do not. */
const HELPERS = ['shardOf', 'shardBase', 'workerId', 'splitWorkerId'] as const;
type KeyMethod = Exclude<{ [K in keyof KeySpace]: KeySpace[K] extends (...args: never[]) => unknown ? K : never }[keyof KeySpace], (typeof HELPERS)[number]>;
type Built = string | string[] | Record<string, string>;

const ANALYTICS = ['events', 'stats', 'node_rooms'] as const;
// every kind analyticsStream takes is listed above (a new kind fails to compile here)
const analyticsCovered: Exclude<Parameters<KeySpace['analyticsStream']>[0], (typeof ANALYTICS)[number]> extends never ? true : false = true;

const BUILDERS: { [M in KeyMethod]: (k: KeySpace) => Built } = {
  worker: (k) => k.worker(SHARD, '<wid>'),
  workers: (k) => k.workers(SHARD),
  closed: (k) => k.closed(SHARD),
  nodeGuards: (k) => k.nodeGuards(SHARD, '<nodeId>'),
  nodesSeen: (k) => k.nodesSeen(),
  statsBuffer: (k) => k.statsBuffer(SHARD, '<wid>'),
  statBatch: (k) => k.statBatch(SHARD, '<id>'),
  dirty: (k) => k.dirty(SHARD),
  counters: (k) => k.counters(SHARD),
  inflight: (k) => k.inflight(SHARD),
  inflightClaims: (k) => k.inflightClaims(SHARD),
  leaves: (k) => k.leaves(SHARD),
  leavesAt: (k) => k.leavesAt(SHARD),
  analyticsStream: (k) => ANALYTICS.map((kind) => k.analyticsStream(kind)),
  committedStatBatches: (k) => k.committedStatBatches(),
  statsRejectedStream: (k) => k.statsRejectedStream(),
  rejectedStatBatches: (k) => k.rejectedStatBatches(),
  webhookLane: (k) => k.webhookLane('<lane>'),
  webhookDropped: (k) => k.webhookDropped('<url>'),
  webhookUrl: (k) => k.webhookUrl('<url>'),
  webhookUrlLimits: (k) => k.webhookUrlLimits('<url>'),
  eventIds: (k) => k.eventIds('<nodeId>', SLICE),
  bullPrefix: (k) => k.bullPrefix(),
};

/** Every key pattern KeySpace builds, in the doc's placeholder form. */
function builtPatterns(): string[] {
  const keys = new KeySpace('<prefix>', SHARD + 1);
  const out: string[] = [];
  for (const build of Object.values(BUILDERS)) {
    const built = build(keys);
    out.push(...(typeof built === 'string' ? [built] : Array.isArray(built) ? built : Object.values(built)));
  }
  return out.map((key) => key.replaceAll(`{s${SHARD}}`, '{s<n>}').replace(new RegExp(`:${SLICE}$`), ':<slice>'));
}

/** The first cell of each row of the first table under "## Keys" in docs/registry.md. */
function documentedPatterns(): string[] {
  const doc = readFileSync(path.join(__dirname, '..', '..', 'docs', 'registry.md'), 'utf8').split('\n');
  const section = doc.findIndex((line) => line.trim() === '## Keys');
  expect(section, 'a "## Keys" section in docs/registry.md').to.be.at.least(0);
  const start = doc.findIndex((line, i) => i > section && line.startsWith('|'));
  expect(start, 'a table under "## Keys"').to.be.above(section);
  const end = doc.findIndex((line, i) => i > start && !line.startsWith('|'));
  const rows = doc.slice(start + 2, end < 0 ? undefined : end); // after the header and its |---| line
  return rows.map((row) => {
    const cell = /^\|\s*`([^`]+)`\s*\|/.exec(row);
    expect(cell, `a key in backticks in the first cell of: ${row}`).to.not.equal(null);
    return cell![1];
  });
}

describe('docs/registry.md: the key table', () => {
  it('names every key builder of KeySpace in this test', () => {
    expect(analyticsCovered).to.equal(true);
    const methods = Object.getOwnPropertyNames(KeySpace.prototype).filter((name) => name !== 'constructor' && !(HELPERS as readonly string[]).includes(name));
    expect(methods.filter((name) => !(name in BUILDERS)), 'KeySpace methods missing from BUILDERS').to.deep.equal([]);
  });

  it('lists every key KeySpace builds, and only those', () => {
    const built = builtPatterns();
    const documented = documentedPatterns();
    expect(new Set(built).size, 'KeySpace builds no key twice').to.equal(built.length);
    expect(documented.filter((key, i) => documented.indexOf(key) !== i), 'rows listed twice').to.deep.equal([]);
    expect(built.filter((key) => !documented.includes(key)), 'built by KeySpace, missing from docs/registry.md').to.deep.equal([]);
    expect(documented.filter((key) => !built.includes(key)), 'in docs/registry.md, not built by KeySpace').to.deep.equal([]);
  });

  it("spells a worker id as KeySpace makes it ('<wid>' in the table)", () => {
    const doc = readFileSync(path.join(__dirname, '..', '..', 'docs', 'registry.md'), 'utf8');
    expect(doc).to.include(`\`<wid>\` = \`${new KeySpace('<prefix>', 1).workerId('<roomId>', '<participantId>')}\``);
  });
});
