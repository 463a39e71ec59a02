import { compareChecksums } from '../../../src/core/verify/compare';

describe('compareChecksums', () => {
  const expected = {
    tables: { '"public"."a"': { rows: '2', sum: '10' }, '"public"."b"': { rows: '1', sum: '-5' } },
    sequences: { '"public"."s"': { lastValue: '5', isCalled: true } },
  };

  it('finds nothing when equal', () => {
    expect(compareChecksums(expected, structuredClone(expected), { sequences: 'exact' })).toEqual([]);
  });

  it('lists missing, unexpected and different tables in name order; sequences only when asked', () => {
    const actual = {
      tables: { '"public"."a"': { rows: '2', sum: '11' }, '"public"."c"': { rows: '0', sum: '0' } },
      sequences: { '"public"."s"': { lastValue: '6', isCalled: true } },
    };
    expect(compareChecksums(expected, actual)).toEqual([
      { kind: 'table', name: '"public"."a"', problem: 'different', expected: 'rows 2 sum 10', actual: 'rows 2 sum 11' },
      { kind: 'table', name: '"public"."b"', problem: 'missing', expected: 'rows 1 sum -5', actual: '(absent)' },
      { kind: 'table', name: '"public"."c"', problem: 'unexpected', expected: '(absent)', actual: 'rows 0 sum 0' },
    ]);
    expect(compareChecksums(expected, actual, { sequences: 'exact' }).at(-1)).toEqual({
      kind: 'sequence',
      name: '"public"."s"',
      problem: 'different',
      expected: 'last_value 5 is_called true',
      actual: 'last_value 6 is_called true',
    });
  });
});
