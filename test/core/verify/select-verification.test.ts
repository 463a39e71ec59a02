import { addBase, addCheckpoint, emptyCatalog } from '../../../src/core/catalog/catalog';
import type { Catalog } from '../../../src/core/catalog/schema';
import { selectVerification } from '../../../src/core/verify/select-verification';

const base = (id: string, lsn: string) => ({
  id,
  dir: `base/${id}`,
  lsn,
  takenAt: '2026-12-06T10:00:00.000Z',
  format: 'plain' as const,
  bytes: 1,
  checksumsFile: `base/${id}/checksums.json`,
});

function catalog(...steps: ((c: Catalog) => Catalog)[]): Catalog {
  return steps.reduce((c, step) => step(c), emptyCatalog('1', 'app'));
}

describe('selectVerification', () => {
  it('has nothing to verify with one base and no checkpoint', () => {
    expect(selectVerification(catalog((c) => addBase(c, base('b1', '0/100'))))).toBeNull();
  });

  it('restores the newest base from the base before it', () => {
    const c = catalog(
      (c) => addBase(c, base('b2', '0/200')),
      (c) => addBase(c, base('b1', '0/100')),
    );
    expect(selectVerification(c)).toEqual({ fromBase: 'b1', toLsn: '0/200', checksumsFile: 'base/b2/checksums.json' });
  });

  it('prefers a checkpoint newer than every base, restored from the newest base before it', () => {
    const c = catalog(
      (c) => addBase(c, base('b1', '0/100')),
      (c) => addBase(c, base('b2', '0/200')),
      (c) => addCheckpoint(c, { lsn: '0/300', takenAt: '2026-12-06T11:00:00.000Z', file: 'checkpoints/0000000000000300.json' }),
    );
    expect(selectVerification(c)).toEqual({ fromBase: 'b2', toLsn: '0/300', checksumsFile: 'checkpoints/0000000000000300.json' });
  });

  it('compares LSNs as numbers, not text (0/FF < 0/100)', () => {
    const c = catalog(
      (c) => addBase(c, base('b1', '0/FF')),
      (c) => addBase(c, base('b2', '0/100')),
    );
    expect(selectVerification(c)).toMatchObject({ fromBase: 'b1', toLsn: '0/100' });
  });
});
