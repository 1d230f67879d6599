import { AnalyticsStat } from '@livekit/protocol';
import { expect } from 'chai';
import fc from 'fast-check';
import { coalesce } from '../../lib/telemetry/coalesce';
import { checkStatJson } from '../../lib/telemetry/stat-json';

/** What the API accepts as a stat, protobuf's strict parser accepts and coalesce() takes. */
describe('stat check (AnalyticsStat in protobuf JSON)', () => {
  const number = fc.oneof(fc.integer(), fc.double(), fc.constantFrom(2 ** 31, 2 ** 32, 2 ** 32 - 1, -1, 1e300, -0, 2 ** 53, 2 ** 64));
  const scalar = fc.oneof(number, fc.constantFrom('NaN', 'Infinity', '-1', '18446744073709551615', '18446744073709551616', '1.5', 'x', '', true, null),
    fc.bigUintN(64).map(String), fc.date({ noInvalidDate: true }).map((d) => d.toISOString()),
    fc.constantFrom('2024-01-01T00:00:00Z', '2024-01-01T00:00:00.1234Z', '2024-01-01T00:00:00+01:00', '0001-01-01T00:00:00-01:00', '2024-01-01T24:00:00Z', '0000-01-01T00:00:00Z'));
  const layer = fc.dictionary(fc.constantFrom('layer', 'packets', 'bytes', 'frames', 'extra'), scalar, { maxKeys: 4 });
  const stream = fc.dictionary(fc.constantFrom('ssrc', 'primaryPackets', 'primary_packets', 'primaryBytes', 'rtt', 'jitter', 'frames', 'startTime', 'endTime', 'start_time', 'videoLayers', 'nacks'),
    fc.oneof(scalar, fc.array(fc.oneof(layer, fc.constant(null)), { maxLength: 2 })), { maxKeys: 8 });
  const stat = fc.dictionary(fc.constantFrom('score', 'minScore', 'mime', 'kind', 'streams', 'trackId', 'colour'),
    fc.oneof(scalar, fc.constantFrom('UPSTREAM', 'DOWNSTREAM', 'SIDEWAYS'), fc.array(fc.oneof(stream, fc.constant(null)), { maxLength: 2 })), { maxKeys: 5 });

  it('accepts only what AnalyticsStat.fromJson accepts and coalesce() flushes (5,000 random stats)', () => {
    let accepted = 0;
    fc.assert(fc.property(stat, (json) => {
      if (checkStatJson(json) !== undefined) return;
      accepted++;
      const parsed = AnalyticsStat.fromJson(json as never);
      expect(coalesce([parsed])!.toJsonString()).to.be.a('string');
    }), { numRuns: 5000 });
    expect(accepted).to.be.above(100);
  });

  it('names the field and what is wrong', () => {
    expect(checkStatJson({ streams: [{ videoLayers: [{ layer: 1e300 }] }] })).to.equal('streams[0].videoLayers[0].layer: must be an int32');
    expect(checkStatJson({ streams: [{ start_time: 'yesterday' }] })).to.match(/^streams\[0\]\.start_time: must be an RFC 3339 timestamp/);
    expect(checkStatJson({ streams: [{ primary_packets: 5, startTime: '2024-01-01T00:00:00.1234Z' }] })).to.equal(undefined);
  });
});
