import { catalogFacts } from '../../../src/core/monitor/catalog-facts';
import { trackProgress } from '../../../src/core/monitor/progress';

describe('catalogFacts', () => {
  it('takes the newest segment, base and verification', () => {
    expect(
      catalogFacts({
        bases: [{ takenAt: '2026-11-01T02:00:00Z' }, { takenAt: '2026-11-02T02:00:00Z' }],
        segments: [
          { lastCommitTime: '2026-11-02T10:00:00Z' },
          { lastCommitTime: null, sealedAt: '2026-11-02T11:00:00Z' },
          { lastCommitTime: '2026-11-02T09:00:00Z' },
        ],
        verifications: [
          { at: '2026-11-02T05:00:00Z', ok: false, error: '1 table differs' },
          { finishedAt: '2026-11-01T05:00:00Z', passed: true },
        ],
      }),
    ).toEqual({
      lastSegmentAtMs: Date.parse('2026-11-02T11:00:00Z'),
      lastBaseAtMs: Date.parse('2026-11-02T02:00:00Z'),
      lastVerify: { atMs: Date.parse('2026-11-02T05:00:00Z'), ok: false, detail: '1 table differs' },
    });
  });

  it('an empty catalog has no facts', () => {
    expect(catalogFacts({})).toEqual({ lastSegmentAtMs: null, lastBaseAtMs: null, lastVerify: null });
  });
});

describe('trackProgress', () => {
  const t0 = Date.parse('2026-11-27T14:00:00Z');
  it('starts on first sight, keeps the time while the LSN stays, restarts when it moves', () => {
    const first = trackProgress(undefined, '0/100', t0);
    expect(first).toEqual({ confirmedFlushLsn: '0/100', changedAt: '2026-11-27T14:00:00.000Z' });
    expect(trackProgress(first, '0/100', t0 + 60_000)).toBe(first);
    expect(trackProgress(first, '0/200', t0 + 60_000)).toEqual({ confirmedFlushLsn: '0/200', changedAt: '2026-11-27T14:01:00.000Z' });
    expect(trackProgress(first, null, t0 + 60_000)).toBe(first);
    expect(trackProgress(undefined, null, t0)).toBeUndefined();
  });
});
