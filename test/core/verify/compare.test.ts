import { compareChecksums, compareKeptSequences } from '../../../src/core/verify/compare';

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

describe('compareKeptSequences (a partial verify)', () => {
  const seq = (lastValue: string, isCalled = true) => ({ lastValue, isCalled });
  const key = '"public"."orders_id_seq"';
  const up = { [key]: { increment: '1', extreme: '200' } };

  it('equal, or behind the checkpoint but past its rows: no difference', () => {
    expect(compareKeptSequences([key], { [key]: seq('205') }, { [key]: seq('205') }, up)).toEqual([]);
    expect(compareKeptSequences([key], { [key]: seq('205') }, { [key]: seq('200') }, up)).toEqual([]);
  });

  it('past the checkpoint, not past its rows, or missing: a difference naming the sequence', () => {
    expect(compareKeptSequences([key], { [key]: seq('205') }, { [key]: seq('206') }, up)).toEqual([
      {
        kind: 'sequence',
        name: key,
        problem: 'different',
        expected: 'last_value 205 is_called true',
        actual: 'last_value 206 is_called true: past the checkpoint',
      },
    ]);
    expect(compareKeptSequences([key], { [key]: seq('205') }, { [key]: seq('199') }, up)[0]?.actual).toBe(
      'last_value 199 is_called true: next value 200 is not past its rows (200)',
    );
    expect(compareKeptSequences([key], { [key]: seq('205') }, {}, up)[0]).toMatchObject({ problem: 'missing', actual: '(absent)' });
  });

  it('a descending sequence: past means lower', () => {
    const down = { [key]: { increment: '-1', extreme: '-10' } };
    expect(compareKeptSequences([key], { [key]: seq('-20') }, { [key]: seq('-21') }, down)[0]?.actual).toMatch(/past the checkpoint$/);
    expect(compareKeptSequences([key], { [key]: seq('-20') }, { [key]: seq('-12') }, down)).toEqual([]);
  });
});
