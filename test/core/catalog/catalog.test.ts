import {
  addBase,
  addCheckpoint,
  addSegment,
  addVerification,
  chainFrom,
  findGaps,
  isExpiredFile,
  mergeCatalogs,
  removeEntries,
  withExpired,
  restorableWindow,
  unrestorableSpans,
} from '../../../src/core/catalog/catalog';
import { catalogSchema } from '../../../src/core/catalog/schema';
import { base, makeCatalog, segment } from './make-catalog';

const b1 = base(0x100n, '2026-01-01T00:00:00.000000Z');
const s1 = segment(0x100n, 0x200n, '2026-01-01T01:00:00.000000Z', '2026-01-01T02:00:00.000000Z');
const s2 = segment(0x200n, 0x300n, '2026-01-01T03:00:00.000000Z', '2026-01-01T04:00:00.000000Z');
const s3 = segment(0x300n, 0x400n, '2026-01-02T03:00:00.000000Z', '2026-01-02T04:00:00.000000Z');

describe('catalog', () => {
  it('adds idempotently, keeps order, and stays valid for the schema', () => {
    let c = makeCatalog([b1], [s3, s1, s2]);
    expect(c.segments.map((s) => s.startLsn)).toEqual(['0/100', '0/200', '0/300']);
    expect(addSegment(c, s2)).toEqual(c);
    expect(addBase(c, b1)).toEqual(c);
    const uncompressed = { ...s2, file: s2.file.replace(/\.gz$/, ''), compressed: false };
    c = addSegment(addSegment(c, uncompressed), s2);
    expect(c.segments.filter((s) => s.startLsn === '0/200')).toEqual([s2]);
    c = addCheckpoint(c, { lsn: '0/250', takenAt: '2026-01-01T05:00:00.000000Z', file: 'checkpoints/0000000000000250.json' });
    c = addCheckpoint(c, { lsn: '0/250', takenAt: '2026-01-01T05:00:00.000000Z', file: 'checkpoints/0000000000000250.json' });
    const v = { at: '2026-01-03T00:00:00Z', fromBase: b1.id, toLsn: '0/400', ok: true };
    c = addVerification(addVerification(c, v), v);
    expect(c.checkpoints).toHaveLength(1);
    expect(c.verifications).toHaveLength(1);
    expect(catalogSchema.parse(c)).toEqual(c);
    expect(removeEntries(c, { segments: [s1.file] }).segments).toEqual([s2, s3]);
  });

  it('a merge with an older copy does not bring back what retention removed (several workers, one bucket)', () => {
    const b2 = base(0x300n, '2026-01-02T00:00:00.000000Z');
    const full = makeCatalog([b1, b2], [s1, s2, s3]);
    const expired = removeEntries(full, { bases: [b1.id], segments: [s1.file, s2.file] });
    expect(expired.expired).toEqual({ segmentsThrough: '0/300', bases: [b1.id] });
    expect(catalogSchema.parse(expired)).toEqual(expired);
    // A stale worker's catalog (before retention) merged into the bucket's, and the other way round.
    const s4 = segment(0x400n, 0x500n, '2026-01-03T03:00:00.000000Z', '2026-01-03T04:00:00.000000Z');
    const stale = addSegment(full, s4);
    for (const merged of [mergeCatalogs(expired, stale), mergeCatalogs(stale, expired)]) {
      expect(merged.bases.map((b) => b.id)).toEqual([b2.id]);
      expect(merged.segments.map((s) => s.file)).toEqual([s3.file, s4.file]);
      expect(merged.expired).toEqual(expired.expired);
    }
    expect(isExpiredFile(expired, s1.file)).toBe(true);
    expect(isExpiredFile(expired, s1.file.replace(/\.gz$/, ''))).toBe(true);
    expect(isExpiredFile(expired, s3.file)).toBe(false);
    expect(isExpiredFile(expired, `${b1.dir}/dump.sql.gz`)).toBe(true);
    expect(isExpiredFile(expired, `${b2.dir}/dump.sql.gz`)).toBe(false);
    expect(isExpiredFile(expired, 'checkpoints/0000000000000250.json')).toBe(false);
    expect(isExpiredFile(full, s1.file)).toBe(false);
    // A rebuilt catalog (from a stale folder) keeps the record and drops the entries.
    expect(withExpired(full, expired.expired).segments).toEqual([s3]);
    // Retention deletes a prefix of the chain only: a hole is refused.
    expect(() => removeEntries(full, { segments: [s2.file] })).toThrow(/not a prefix/);
  });

  it('rejects malformed entries', () => {
    const c = makeCatalog([b1], [s1]);
    expect(catalogSchema.safeParse({ ...c, segments: [{ ...s1, startLsn: '0/1g' }] }).success).toBe(false);
    expect(catalogSchema.safeParse({ ...c, version: 2 }).success).toBe(false);
  });

  it('finds no gap in a contiguous chain', () => {
    expect(findGaps(makeCatalog([b1], [s1, s2, s3]))).toEqual([]);
  });

  it('names a gap between segments by LSN and files', () => {
    expect(findGaps(makeCatalog([b1], [s1, s3]))).toEqual([{ kind: 'gap', fromLsn: '0/200', toLsn: '0/300', after: s1.file, before: s3.file }]);
  });

  it('reports overlaps', () => {
    const bad = segment(0x180n, 0x280n, '2026-01-01T02:30:00.000000Z', '2026-01-01T02:40:00.000000Z');
    expect(findGaps(makeCatalog([b1], [s1, bad]))[0]).toMatchObject({ kind: 'overlap', fromLsn: '0/180', toLsn: '0/200' });
  });

  it('requires the first segment after a base to start at or before the base LSN', () => {
    const late = base(0x80n, '2025-12-31T00:00:00.000000Z');
    expect(findGaps(makeCatalog([late], [s1]))).toEqual([{ kind: 'gap', fromLsn: '0/80', toLsn: '0/100', after: `base ${late.id}`, before: s1.file }]);
    const inside = base(0x150n, '2026-01-01T01:30:00.000000Z');
    expect(findGaps(makeCatalog([inside], [s1, s2]))).toEqual([]);
  });

  it('marks a gap bridged by a newer base (a new chain after a new slot)', () => {
    const b2 = base(0x300n, '2026-01-02T00:00:00.000000Z');
    expect(findGaps(makeCatalog([b1, b2], [s1, s3]))).toEqual([
      { kind: 'gap', fromLsn: '0/200', toLsn: '0/300', after: s1.file, before: s3.file, bridgedBy: b2.id },
    ]);
  });

  it('follows the chain from a base and stops at the first break', () => {
    const c = makeCatalog([b1], [s1, s3]);
    const run = chainFrom(c, 0x100n);
    expect(run.segments).toEqual([s1]);
    expect(run.endLsn).toBe(0x200n);
    expect(run.broken).toMatchObject({ kind: 'gap', fromLsn: '0/200', toLsn: '0/300' });
    expect(chainFrom(c, 0x400n)).toEqual({ segments: [], endLsn: 0x400n });
  });

  it('computes the restorable window per base', () => {
    const b2 = base(0x250n, '2026-01-01T03:30:00.000000Z');
    const w = restorableWindow(makeCatalog([b1, b2], [s1, s2, s3]));
    expect(w.earliest).toEqual({ lsn: '0/100', time: b1.takenAt });
    expect(w.latest).toEqual({ lsn: '0/400', time: s3.lastCommitTime });
    expect(w.ranges.map((r) => [r.baseId, r.fromLsn, r.toLsn])).toEqual([
      [b1.id, '0/100', '0/400'],
      [b2.id, '0/250', '0/400'],
    ]);
    const broken = restorableWindow(makeCatalog([b1], [s1, s3]));
    expect(broken.latest).toEqual({ lsn: '0/200', time: s1.lastCommitTime });
    expect(broken.ranges[0]?.broken?.fromLsn).toBe('0/200');
    expect(restorableWindow(makeCatalog([], [s1]))).toEqual({ ranges: [], earliest: null, latest: null });
  });

  it('names the span no base reaches between a broken chain and the next base (a lost slot)', () => {
    const b2 = base(0x300n, '2026-01-02T00:00:00.000000Z');
    expect(unrestorableSpans(restorableWindow(makeCatalog([b1, b2], [s1, s3])))).toEqual([
      { fromLsn: '0/200', fromTime: s1.lastCommitTime, toLsn: '0/300', toTime: b2.takenAt, nextBase: b2.id },
    ]);
    // A base inside the chain, or right at its end, leaves nothing out.
    const inside = base(0x250n, '2026-01-01T03:30:00.000000Z');
    expect(unrestorableSpans(restorableWindow(makeCatalog([b1, inside], [s1, s2, s3])))).toEqual([]);
    const atEnd = base(0x200n, '2026-01-01T02:30:00.000000Z');
    expect(unrestorableSpans(restorableWindow(makeCatalog([b1, atEnd], [s1])))).toEqual([]);
  });
});
