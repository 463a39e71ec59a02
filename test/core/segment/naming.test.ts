import { normalizeTime, parsePgTime, renderPgTime, timeToMicros } from '../../../src/core/segment/commit-time';
import { parseSegmentName, partialSegmentName, sealedSegmentName, segmentDateFolder } from '../../../src/core/segment/naming';
import { shouldRotate } from '../../../src/core/segment/rotation';

describe('segment names', () => {
  it('zero-pads LSNs so names sort in LSN order, and parses them back', () => {
    expect(sealedSegmentName(0x16b3748n, 0x1_0000_0000n, false)).toBe('00000000016B3748_0000000100000000.sql');
    expect(sealedSegmentName(1n, 2n, true)).toBe('0000000000000001_0000000000000002.sql.gz');
    expect(partialSegmentName(0xabn)).toBe('00000000000000AB.sql.partial');
    expect(parseSegmentName('00000000016B3748_0000000100000000.sql.gz')).toEqual({
      kind: 'sealed',
      startLsn: 0x16b3748n,
      endLsn: 0x1_0000_0000n,
      compressed: true,
    });
    expect(parseSegmentName('00000000000000AB.sql.partial')).toEqual({ kind: 'partial', startLsn: 0xabn });
    expect(parseSegmentName('.00000000000000AB_00000000000000AC.sql.gz.tmp-1-abcd0123')).toBeNull();
    expect(parseSegmentName('notes.txt')).toBeNull();
    const names = [0x10n, 0x9n, 0x1_0000_0000n].map((l) => sealedSegmentName(l, l + 1n, false));
    expect([...names].sort()).toEqual([names[1], names[0], names[2]]);
  });

  it('files a segment under the UTC date of its last commit', () => {
    expect(segmentDateFolder('2026-11-27T23:30:00.000001Z')).toBe('2026-11-27');
    expect(segmentDateFolder('2026-11-28T00:30:00+01:00')).toBe('2026-11-27');
  });
});

describe('commit times', () => {
  it('normalizes to UTC with microseconds and refuses times without an offset', () => {
    expect(normalizeTime('2026-11-27T14:00:00Z')).toBe('2026-11-27T14:00:00.000000Z');
    expect(normalizeTime('2026-11-27 16:30:00.1234567+02:30')).toBe('2026-11-27T14:00:00.123456Z');
    expect(normalizeTime('2026-11-27T14:00Z')).toBe('2026-11-27T14:00:00.000000Z');
    expect(() => normalizeTime('2026-11-27 14:00:00')).toThrow(/with an offset/);
    expect(renderPgTime('2026-11-27T14:00:00.000001Z')).toBe('2026-11-27 14:00:00.000001+00');
    expect(parsePgTime('2026-11-27 14:00:00.000001+00')).toBe('2026-11-27T14:00:00.000001Z');
    expect(parsePgTime('2026-11-27 14:00:00+00')).toBeNull();
    expect(timeToMicros('2026-11-27T14:00:00.000002Z') - timeToMicros('2026-11-27T15:00:00.000001+01:00')).toBe(1n);
  });
});

describe('shouldRotate', () => {
  const limits = { maxBytes: 1000, maxAgeMs: 60_000 };
  const base = { bytes: 10, transactions: 1, openedAtMs: 0, nowMs: 1, requested: false };
  it('rotates on request, size or age, never an empty segment', () => {
    expect(shouldRotate(base, limits)).toBeNull();
    expect(shouldRotate({ ...base, requested: true }, limits)).toBe('requested');
    expect(shouldRotate({ ...base, bytes: 1000 }, limits)).toBe('size');
    expect(shouldRotate({ ...base, nowMs: 60_000 }, limits)).toBe('age');
    expect(shouldRotate({ ...base, transactions: 0, requested: true, bytes: 5000 }, limits)).toBeNull();
  });
});
