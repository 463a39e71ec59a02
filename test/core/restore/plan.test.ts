import { planRestore, type RestoreTarget } from '../../../src/core/restore/plan';
import type { Catalog } from '../../../src/core/catalog/schema';
import { base, makeCatalog, segment } from '../catalog/make-catalog';

const b1 = base(0x100n, '2026-01-01T00:00:00.000000Z');
const b2 = base(0x250n, '2026-01-01T03:30:00.000000Z');
const s1 = segment(0x100n, 0x200n, '2026-01-01T01:00:00.000000Z', '2026-01-01T02:00:00.000000Z');
const s2 = segment(0x200n, 0x300n, '2026-01-01T03:00:00.000000Z', '2026-01-01T04:00:00.000000Z');
const s3 = segment(0x300n, 0x400n, '2026-01-02T03:00:00.000000Z', '2026-01-02T04:00:00.000000Z');
const full = makeCatalog([b1, b2], [s1, s2, s3]);

function planError(catalog: Catalog, target: RestoreTarget, fromBaseId?: string): string {
  try {
    planRestore(catalog, target, fromBaseId ? { fromBaseId } : {});
  } catch (error) {
    expect((error as Error).name).toBe('PlanError');
    return (error as Error).message;
  }
  throw new Error('expected a PlanError');
}

describe('planRestore', () => {
  it('latest: the newest base and every segment after it', () => {
    const plan = planRestore(full, { kind: 'latest' });
    expect(plan.base.id).toBe(b2.id);
    expect(plan.segments).toEqual([s2, s3]);
    expect(plan.startLsn).toBe('0/250');
    expect(plan.expectedLastLsn).toBe('0/400');
  });

  it('lsn: the newest base at or before it, segments up to the one reaching it', () => {
    const plan = planRestore(full, { kind: 'lsn', lsn: '0/220', inclusive: true });
    expect(plan.base.id).toBe(b1.id);
    expect(plan.segments).toEqual([s1, s2]);
    expect(plan.expectedLastLsn).toBe('0/220');
    expect(plan.stopAt).toEqual({ kind: 'lsn', lsn: '0/220', inclusive: true });
    expect(planRestore(full, { kind: 'lsn', lsn: '0/250', inclusive: true }).segments).toEqual([]);
    expect(planRestore(full, { kind: 'lsn', lsn: '0/400', inclusive: false }).segments).toEqual([s2, s3]);
  });

  it('time: the newest base taken before it, segments up to the first whose last commit reaches it', () => {
    const plan = planRestore(full, { kind: 'time', time: '2026-01-01T04:45:00+01:00', inclusive: false });
    expect(plan.base.id).toBe(b2.id);
    expect(plan.segments).toEqual([s2]);
    expect(plan.stopAt).toEqual({ kind: 'time', time: '2026-01-01T03:45:00.000000Z', inclusive: false });
    expect(planRestore(full, { kind: 'time', time: '2026-01-01T03:00:00Z', inclusive: true }).segments).toEqual([s1, s2]);
  });

  it('xid: the oldest unbroken base and every segment (the applier stops)', () => {
    const plan = planRestore(full, { kind: 'xid', xid: 77, inclusive: true });
    expect(plan.base.id).toBe(b1.id);
    expect(plan.segments).toEqual([s1, s2, s3]);
    expect(plan.notes.join('\n')).toMatch(/xid 77/);
  });

  it('from a chosen base', () => {
    expect(planRestore(full, { kind: 'latest' }, { fromBaseId: b1.id }).segments).toEqual([s1, s2, s3]);
    expect(planError(full, { kind: 'latest' }, 'nope')).toBe(`no base backup with id nope\nhint: known bases: ${b1.id}, ${b2.id}`);
    expect(planError(full, { kind: 'lsn', lsn: '0/200', inclusive: true }, b2.id)).toBe(
      `base ${b2.id} (lsn 0/250, taken 2026-01-01T03:30:00.000000Z) is after the target lsn 0/200\n` +
        'hint: choose an older base with --from-base, or leave it out to pick one',
    );
  });

  it('fails when there is no base', () => {
    expect(planError(makeCatalog([], [s1]), { kind: 'latest' })).toBe(
      'no base backup in the catalog of 42-app\nhint: take one with: pgincr backup full\nhint: if base folders exist on disk, rebuild the catalog from the files',
    );
  });

  it('fails when the target is before the oldest base', () => {
    expect(planError(full, { kind: 'time', time: '2025-12-31T23:00:00Z', inclusive: true })).toBe(
      `target time 2025-12-31T23:00:00.000000Z is before the oldest base backup ${b1.id} (lsn 0/100, taken 2026-01-01T00:00:00.000000Z)\n` +
        'hint: the earliest restorable point is 2026-01-01T00:00:00.000000Z (lsn 0/100)',
    );
    expect(planError(full, { kind: 'lsn', lsn: '0/50', inclusive: true })).toMatch(/^target lsn 0\/50 is before the oldest base backup/);
  });

  it('names a gap by LSN', () => {
    const gapped = makeCatalog([b1], [s1, s3]);
    expect(planError(gapped, { kind: 'latest' })).toBe(
      `cannot restore to latest from base ${b1.id}: gap in the chain between 0/200 and 0/300 (after ${s1.file}, before ${s3.file})\n` +
        `hint: from base ${b1.id} the chain reaches 0/200; restore --to-lsn 0/200 at most, or from a base after 0/300`,
    );
    expect(planError(gapped, { kind: 'lsn', lsn: '0/350', inclusive: true })).toMatch(
      /^target lsn 0\/350 is beyond what the repository holds from base .*\nhint: gap in the chain between 0\/200 and 0\/300/,
    );
    expect(planRestore(gapped, { kind: 'lsn', lsn: '0/180', inclusive: true }).segments).toEqual([s1]);
  });

  it('fails for a target after the last sealed segment, pointing at rotation', () => {
    expect(planError(full, { kind: 'time', time: '2026-01-03T00:00:00Z', inclusive: true })).toBe(
      `target time 2026-01-03T00:00:00.000000Z is beyond what the repository holds from base ${b2.id}\n` +
        'hint: the last sealed segment ends at 0/400 (last commit 2026-01-02T04:00:00.000000Z)\n' +
        'hint: rotate the capture (pgincr capture rotate) to seal the open segment, then plan again; or restore to latest',
    );
    expect(planError(full, { kind: 'lsn', lsn: '0/401', inclusive: true })).toMatch(/^target lsn 0\/401 is beyond/);
  });
});
