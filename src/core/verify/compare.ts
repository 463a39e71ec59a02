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

/** A restored sequence's direction and the furthest value its columns hold (null: none). */
export interface SequenceReach {
  increment: string;
  /** max (ascending) or min (descending) over the columns that draw from it. */
  extreme: string | null;
}

/** The value the next `nextval` returns. */
const nextValue = (s: SequenceState, increment: bigint) => (s.isCalled ? BigInt(s.lastValue) + increment : BigInt(s.lastValue));

/**
 * A partial restore's sequences (those the chosen tables own or call in defaults) against a
 * checkpoint. A checkpoint reads sequences when it runs, not in its snapshot (they are not
 * MVCC), and the segments carry positions at intervals (the restore then moves a sequence past
 * its rows), so a faithful restore is at the checkpoint's position or behind it by values no
 * restored row holds. Differences: missing from either side, past the checkpoint (the restore
 * would hand out values the source had not at that point), or not past its own rows (the next
 * INSERT would collide).
 */
export function compareKeptSequences(
  names: readonly string[],
  expected: Record<string, SequenceState>,
  actual: Record<string, SequenceState>,
  reach: Record<string, SequenceReach>,
): ChecksumMismatch[] {
  const out: ChecksumMismatch[] = [];
  for (const name of [...names].sort()) {
    const e = expected[name];
    const a = actual[name];
    if (e === undefined || a === undefined) {
      out.push({ kind: 'sequence', name, problem: e === undefined ? 'unexpected' : 'missing', expected: showSequence(e), actual: showSequence(a) });
      continue;
    }
    if (e.lastValue === a.lastValue && e.isCalled === a.isCalled) continue;
    const r = reach[name];
    const increment = BigInt(r?.increment ?? '1');
    const down = increment < 0n;
    const next = nextValue(a, increment);
    const past = down ? next < nextValue(e, increment) : next > nextValue(e, increment);
    const extreme = r?.extreme == null ? null : BigInt(r.extreme);
    const collides = extreme !== null && (down ? next >= extreme : next <= extreme);
    if (past || collides) {
      const why = past ? 'past the checkpoint' : `next value ${next} is not past its rows (${extreme})`;
      out.push({ kind: 'sequence', name, problem: 'different', expected: showSequence(e), actual: `${showSequence(a)}: ${why}` });
    }
  }
  return out;
}
