import fc from 'fast-check';
import { chainFrom, removeEntries } from '../../../src/core/catalog/catalog';
import type { Catalog } from '../../../src/core/catalog/schema';
import { parseLsn } from '../../../src/core/lsn';
import { expirable } from '../../../src/core/retention/retention';
import { base, makeCatalog, segment } from '../catalog/make-catalog';

const DAY = 86_400_000;
const start = Date.UTC(2025, 0, 1, 2, 0, 0);
const iso = (ms: number) => `${new Date(ms).toISOString().slice(0, 19)}.000000Z`;

/** A base every `every` days at 02:00 and one segment per day, contiguous, over `days` days. */
function history(days: number, every = 1): Catalog {
  const bases = [];
  const segments = [];
  for (let d = 0; d < days; d++) {
    const lsn = BigInt(0x1000 * (d + 1));
    if (d % every === 0) bases.push(base(lsn, iso(start + d * DAY)));
    segments.push(segment(lsn, lsn + 0x1000n, iso(start + d * DAY + 3_600_000), iso(start + (d + 1) * DAY - 3_600_000)));
  }
  return makeCatalog(bases, segments);
}

describe('retention', () => {
  const catalog = history(450);
  const now = start + 449 * DAY + 12 * 3_600_000; // 2026-03-26 14:00 UTC
  const policy = { segmentsDays: 7, fullDays: 30, monthlyForMonths: 12 };

  it('keeps fullDays of bases and the first base of each of the last months', () => {
    const out = expirable(catalog, policy, now);
    const expired = new Set(out.bases.map((b) => b.id));
    const kept = catalog.bases.filter((b) => !expired.has(b.id));
    const recent = kept.filter((b) => now - Date.parse(b.takenAt) < 30 * DAY);
    const monthly = kept.filter((b) => now - Date.parse(b.takenAt) >= 30 * DAY).map((b) => b.takenAt.slice(0, 10));
    expect(recent).toHaveLength(30);
    // April 2025 … February 2026 (March 2026 is the current month, its first base is within 30 days).
    expect(monthly).toEqual([
      '2025-04-01',
      '2025-05-01',
      '2025-06-01',
      '2025-07-01',
      '2025-08-01',
      '2025-09-01',
      '2025-10-01',
      '2025-11-01',
      '2025-12-01',
      '2026-01-01',
      '2026-02-01',
    ]);
    expect(out.bases[0]?.reason).toMatch(/^taken 2025-01-01T02:00:00.000000Z: older than 30 days and not the first base of a month in the last 12 months$/);
  });

  it('deletes only segments before the oldest retained base', () => {
    const out = expirable(catalog, policy, now);
    const oldestKept = catalog.bases.find((b) => !out.bases.some((e) => e.id === b.id))!;
    expect(oldestKept.takenAt.slice(0, 10)).toBe('2025-04-01');
    const floor = parseLsn(oldestKept.lsn);
    expect(out.segments.length).toBeGreaterThan(0);
    for (const s of catalog.segments) {
      const deleted = out.segments.some((e) => e.file === s.file);
      expect(deleted).toBe(parseLsn(s.endLsn) <= floor);
    }
    expect(out.segments[0]?.reason).toMatch(/at or before the oldest retained base .* older than 7 days$/);
  });

  it('with no monthly bases keeps segments back to the oldest full base only', () => {
    const out = expirable(catalog, { ...policy, monthlyForMonths: 0 }, now);
    expect(catalog.bases.length - out.bases.length).toBe(30);
    const keptSegments = catalog.segments.length - out.segments.length;
    expect(keptSegments).toBe(30);
  });

  it('never deletes the newest base, even when every base is old', () => {
    const out = expirable(catalog, { segmentsDays: 1, fullDays: 1, monthlyForMonths: 0 }, now + 1000 * DAY);
    expect(out.bases).toHaveLength(catalog.bases.length - 1);
    expect(out.bases.some((b) => b.id === catalog.bases.at(-1)!.id)).toBe(false);
  });

  it('keeps segments younger than segmentsDays even before the oldest retained base', () => {
    const out = expirable(catalog, { segmentsDays: 60, fullDays: 1, monthlyForMonths: 0 }, now);
    // The oldest retained base is today's; without segmentsDays only today's segment would stay.
    expect(catalog.segments.length - out.segments.length).toBe(61);
    for (const e of out.segments) {
      const seg = catalog.segments.find((s) => s.file === e.file)!;
      expect(now - Date.parse(seg.lastCommitTime)).toBeGreaterThanOrEqual(60 * DAY);
    }
  });

  it('after deletion, every retained base still reaches the latest point', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 120 }),
        fc.integer({ min: 1, max: 10 }),
        fc.record({
          segmentsDays: fc.integer({ min: 1, max: 60 }),
          fullDays: fc.integer({ min: 1, max: 90 }),
          monthlyForMonths: fc.integer({ min: 0, max: 6 }),
        }),
        fc.integer({ min: 0, max: 200 }),
        (days, every, p, nowDay) => {
          const c = history(days, every);
          const out = expirable(c, p, start + nowDay * DAY);
          const after = removeEntries(c, { bases: out.bases.map((b) => b.id), segments: out.segments.map((s) => s.file) });
          expect(after.bases.length).toBeGreaterThan(0);
          const latest = parseLsn(c.segments.at(-1)!.endLsn);
          for (const b of after.bases) {
            const run = chainFrom(after, parseLsn(b.lsn));
            expect(run.broken).toBeUndefined();
            expect(run.endLsn).toBe(latest);
          }
        },
      ),
      { numRuns: 100 },
    );
  });
});
