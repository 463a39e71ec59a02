import fc from 'fast-check';
import { formatLsn, parseLsn } from '../../src/core/lsn';

/** The reference: bigint halves, as PostgreSQL prints them. */
const reference = (lsn: bigint) => `${(lsn >> 32n).toString(16).toUpperCase()}/${(lsn & 0xffffffffn).toString(16).toUpperCase()}`;

describe('formatLsn', () => {
  it('prints as PostgreSQL does', () => {
    expect(formatLsn(0n)).toBe('0/0');
    expect(formatLsn(0x16b3748n)).toBe('0/16B3748');
    expect(formatLsn(0x16b374d848n)).toBe('16/B374D848');
    expect(formatLsn(0xffffffffffffffffn)).toBe('FFFFFFFF/FFFFFFFF');
  });

  it('equals the bigint form on both sides of 2^53 and round-trips through parseLsn', () => {
    const edge = 2n ** 53n;
    const lsn = fc.oneof(
      fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
      fc.bigInt({ min: edge - 1000n, max: edge + 1000n }),
      fc.bigInt({ min: 0n, max: 2n ** 40n }),
    );
    fc.assert(
      fc.property(lsn, (l) => {
        expect(formatLsn(l)).toBe(reference(l));
        expect(parseLsn(formatLsn(l))).toBe(l);
      }),
      { numRuns: 2000 },
    );
  });
});
