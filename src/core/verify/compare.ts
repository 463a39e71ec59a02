/**
 * Table checksums and their comparison. A table's checksum is its row count and the sum of the
 * first 64 bits of md5(row::text) as a signed integer (order-independent), computed by the
 * server with the literal-shaping settings pinned (docs/architecture.md "Checksums").
 * Keys are `"schema"."table"`; numbers are decimal text (they exceed 2^53).
 */

export interface TableChecksum {
  rows: string;
  sum: string;
}

export interface SequenceState {
  lastValue: string;
  isCalled: boolean;
}

/** The content of `checksums.json`. */
export interface ChecksumFile {
  /** The LSN the checksums describe (`X/Y`). */
  lsn: string;
  /** ISO time they were taken. */
  takenAt: string;
  tables: Record<string, TableChecksum>;
  sequences: Record<string, SequenceState>;
}

export interface ChecksumMismatch {
  kind: 'table' | 'sequence';
  name: string;
  problem: 'missing' | 'unexpected' | 'different';
  expected: string;
  actual: string;
}

const showTable = (t: TableChecksum | undefined) => (t ? `rows ${t.rows} sum ${t.sum}` : '(absent)');
const showSequence = (s: SequenceState | undefined) => (s ? `last_value ${s.lastValue} is_called ${s.isCalled}` : '(absent)');

function diff<T>(
  kind: ChecksumMismatch['kind'],
  expected: Record<string, T>,
  actual: Record<string, T>,
  same: (a: T, b: T) => boolean,
  show: (v: T | undefined) => string,
): ChecksumMismatch[] {
  const names = [...new Set([...Object.keys(expected), ...Object.keys(actual)])].sort();
  const out: ChecksumMismatch[] = [];
  for (const name of names) {
    const e = expected[name];
    const a = actual[name];
    if (e !== undefined && a !== undefined && same(e, a)) continue;
    const problem = e === undefined ? 'unexpected' : a === undefined ? 'missing' : 'different';
    out.push({ kind, name, problem, expected: show(e), actual: show(a) });
  }
  return out;
}

/**
 * Lists every difference, tables first, in name order. Sequences are compared only with
 * `sequences: 'exact'`: a sequence is not MVCC, so a snapshot reads its value at read time.
 */
export function compareChecksums(
  expected: Pick<ChecksumFile, 'tables' | 'sequences'>,
  actual: Pick<ChecksumFile, 'tables' | 'sequences'>,
  options: { sequences: 'exact' | 'ignore' } = { sequences: 'ignore' },
): ChecksumMismatch[] {
  const tables = diff('table', expected.tables, actual.tables, (a, b) => a.rows === b.rows && a.sum === b.sum, showTable);
  if (options.sequences === 'ignore') return tables;
  const sequences = diff('sequence', expected.sequences, actual.sequences, (a, b) => a.lastValue === b.lastValue && a.isCalled === b.isCalled, showSequence);
  return [...tables, ...sequences];
}
