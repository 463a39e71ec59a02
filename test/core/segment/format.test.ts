import { createHash } from 'node:crypto';
import fc from 'fast-check';
import {
  HEAD_MAX,
  SegmentScanner,
  containsMarker,
  parseHeader,
  renderBegin,
  renderCommit,
  renderSegmentHeader,
  scanSegment,
  verifySegment,
} from '../../../src/core/segment/format';
import { header, renderSegment, sampleTxns, type TestTxn } from './segment-builder';

describe('segment format v1', () => {
  it('renders the documented grammar', () => {
    const text = renderSegment(header, sampleTxns().slice(0, 1)).toString('latin1');
    expect(text.replace(/body_sha256 [0-9a-f]{64}/, 'body_sha256 <sha>')).toBe(
      [
        '-- pgincr segment v1',
        '-- system_identifier: 7312345678901234567  database: app  server: PostgreSQL 15.20  encoding: UTF8',
        '-- slot: pgincr  decoder: pgoutput  start_lsn: 0/16B3748  timeline: 1',
        "SET client_encoding = 'UTF8';",
        'SET standard_conforming_strings = on;',
        "SET DateStyle = 'ISO, YMD'; SET IntervalStyle = 'postgres'; SET TimeZone = 'UTC'; SET lc_monetary = 'C';",
        "SET extra_float_digits = 3; SET bytea_output = 'hex'; SET search_path = '';",
        '',
        'BEGIN; -- xid 1234 commit_lsn 0/16B37A0 committed 2026-11-27 14:00:00.123456+00',
        "INSERT INTO public.users (id, name) VALUES ('1', 'Alice');",
        'COMMIT; -- xid 1234 end_lsn 0/16B37D8 changes 1',
        '',
        '-- end of segment: transactions 1  changes 1  last_end_lsn 0/16B37D8  body_sha256 <sha>',
        '',
      ].join('\n'),
    );
  });

  it('round-trips header fields, quoting odd database names', () => {
    for (const database of ['app', 'my  db', 'a"b', 'café']) {
      const h = { ...header, database, startLsn: 0xabcdef0123n, timeline: 3 };
      expect(parseHeader(renderSegmentHeader(h))).toEqual(h);
    }
    expect(renderSegmentHeader({ ...header, database: 'my  db' })).toContain('database: "my  db"  server:');
    expect(() => renderSegmentHeader({ ...header, slot: 'a\nb' })).toThrow(/line break/);
  });

  it('renders commit times with an offset as UTC microseconds', () => {
    expect(renderBegin({ xid: 1, commitLsn: 1n, commitTime: '2026-11-27T15:00:00.5+01:00' })).toBe(
      '\nBEGIN; -- xid 1 commit_lsn 0/1 committed 2026-11-27 14:00:00.500000+00\n',
    );
    expect(renderCommit({ xid: 1, endLsn: 0x100000002n, changes: 0 })).toBe('COMMIT; -- xid 1 end_lsn 1/2 changes 0\n');
  });

  it('scans what it renders, with byte offsets of each transaction', () => {
    const bytes = renderSegment(header, sampleTxns());
    const scan = scanSegment(bytes);
    expect(scan.header).toEqual(header);
    expect(scan.issues).toEqual([]);
    expect(scan.footer).toMatchObject({ transactions: 2, changes: 3, lastEndLsn: 0x16b3900n });
    expect(scan.actualBodySha256).toBe(scan.footer?.bodySha256);
    const [a, b] = scan.transactions;
    expect(a).toMatchObject({ xid: 1234, commitLsn: 0x16b37a0n, endLsn: 0x16b37d8n, commitTime: '2026-11-27T14:00:00.123456Z', changes: 1 });
    expect(bytes.subarray(a!.byteStart, a!.byteEnd).toString('latin1')).toMatch(/^BEGIN; -- xid 1234 [^]*COMMIT; -- xid 1234 end_lsn 0\/16B37D8 changes 1\n$/);
    expect(b!.byteStart).toBe(a!.byteEnd + 1);
    expect(scan.completeLength).toBe(b!.byteEnd);
    expect(verifySegment(bytes).ok).toBe(true);
  });

  const txnsArb = fc
    .array(
      fc.record({
        xid: fc.integer({ min: 1, max: 2 ** 32 - 1 }),
        gap: fc.bigInt({ min: 0n, max: 1n << 20n }),
        len: fc.bigInt({ min: 1n, max: 1n << 12n }),
        micros: fc.integer({ min: 0, max: 10 ** 9 }),
        statements: fc.array(
          fc.string({ unit: 'binary' }).map((s) =>
            Buffer.from(s, 'utf8')
              .toString('latin1')
              .replace(/[\r\n]/g, ' '),
          ),
          {
            maxLength: 4,
          },
        ),
      }),
      { maxLength: 8 },
    )
    .map((raw) => {
      let lsn = header.startLsn;
      let micros = Date.UTC(2026, 0, 1) * 1000;
      return raw.map((r): TestTxn => {
        const commitLsn = lsn + r.gap;
        lsn = commitLsn + r.len;
        micros += r.micros;
        const iso = new Date(Math.floor(micros / 1000)).toISOString().slice(0, 19);
        return {
          xid: r.xid,
          commitLsn,
          endLsn: lsn,
          commitTime: `${iso}.${String(micros % 1_000_000).padStart(6, '0')}Z`,
          statements: r.statements.map((s) => (containsMarker(s) ? `-- ${s}` : s)),
        };
      });
    });

  it('round-trips random transactions through the scanner, whatever the chunking', () => {
    fc.assert(
      fc.property(txnsArb, fc.array(fc.integer({ min: 1, max: 300 }), { minLength: 1, maxLength: 20 }), (txns, cuts) => {
        const bytes = renderSegment(header, txns);
        const whole = scanSegment(bytes);
        expect(verifySegment(bytes).ok).toBe(true);
        expect(whole.transactions.map(({ byteStart, byteEnd, ...t }) => t)).toEqual(
          txns.map((t) => ({ xid: t.xid, commitLsn: t.commitLsn, endLsn: t.endLsn, commitTime: t.commitTime, changes: t.statements.length })),
        );
        const scanner = new SegmentScanner();
        let pos = 0;
        for (let i = 0; pos < bytes.length; i++) {
          const next = Math.min(bytes.length, pos + (cuts[i % cuts.length] as number));
          scanner.push(bytes.subarray(pos, next));
          pos = next;
        }
        expect(scanner.finish()).toEqual(whole);
        expect(scanner.completeHash().digest('hex')).toBe(createHash('sha256').update(bytes.subarray(0, whole.completeLength)).digest('hex'));
      }),
      { numRuns: 150 },
    );
  });

  it('a torn segment, whatever the chunking: the same scan, and the hash state at the last whole COMMIT (the writer resumes from it)', () => {
    fc.assert(
      fc.property(txnsArb, fc.nat(), fc.array(fc.integer({ min: 1, max: 300 }), { minLength: 1, maxLength: 20 }), (txns, at, cuts) => {
        const full = renderSegment(header, txns, false);
        const bytes = full.subarray(0, renderSegmentHeader(header).length + (at % (full.length - renderSegmentHeader(header).length + 1)));
        const whole = new SegmentScanner();
        whole.push(bytes);
        const scanner = new SegmentScanner();
        let pos = 0;
        for (let i = 0; pos < bytes.length; i++) {
          const next = Math.min(bytes.length, pos + (cuts[i % cuts.length] as number));
          scanner.push(bytes.subarray(pos, next));
          pos = next;
        }
        const scan = scanner.finish();
        expect(scan).toEqual(whole.finish());
        const expected = createHash('sha256').update(bytes.subarray(0, scan.completeLength)).digest('hex');
        expect(scanner.completeHash().digest('hex')).toBe(expected);
        expect(whole.completeHash().digest('hex')).toBe(expected);
      }),
      { numRuns: 150 },
    );
  });

  it('hashes and skips lines longer than the kept head', () => {
    const long = `INSERT INTO t VALUES ('${'x'.repeat(HEAD_MAX * 3)}');`;
    const bytes = renderSegment(header, [{ ...sampleTxns()[0]!, statements: [long, long] }]);
    const scanner = new SegmentScanner();
    for (let i = 0; i < bytes.length; i += 100) scanner.push(bytes.subarray(i, i + 100));
    const scan = scanner.finish();
    expect(scan.issues).toEqual([]);
    expect(scan.actualBodySha256).toBe(scan.footer?.bodySha256);
    expect(scan.transactions[0]?.changes).toBe(2);
  });

  it('finds the torn tail: completeLength ends at the last whole COMMIT line', () => {
    const txns = sampleTxns();
    const full = renderSegment(header, txns, false);
    const first = scanSegment(full).transactions[0]!;
    for (const cut of [first.byteEnd + 1, first.byteEnd + 40, full.length - 3]) {
      const scan = scanSegment(full.subarray(0, cut));
      expect(scan.transactions).toHaveLength(1);
      expect(scan.completeLength).toBe(first.byteEnd);
      expect(scan.issues).toEqual([]);
    }
    const headerOnly = scanSegment(full.subarray(0, first.byteStart + 5));
    expect(headerOnly.transactions).toHaveLength(0);
    expect(headerOnly.completeLength).toBe(renderSegmentHeader(header).length);
  });
});

describe('verifySegment names the offset of the problem', () => {
  const bytes = renderSegment(header, sampleTxns());
  const scan = scanSegment(bytes);
  const footerAt = scan.footer!.offset;

  function mutate(from: string, to: string): Buffer {
    const text = bytes.toString('latin1');
    expect(text).toContain(from);
    return Buffer.from(text.replace(from, to), 'latin1');
  }

  function problem(b: Buffer): string {
    const result = verifySegment(b, 'seg.sql');
    if (result.ok) throw new Error('expected a problem');
    expect(result.error.name).toBe('SegmentCorruptError');
    return result.error.message.split('\n')[0]!;
  }

  it('checksum mismatch', () => {
    const b = mutate("'Alice'", "'Alicf'");
    const actual = scanSegment(b).actualBodySha256;
    expect(actual).not.toBe(scan.footer!.bodySha256);
    expect(problem(b)).toBe(`seg.sql: body_sha256 mismatch: footer ${scan.footer!.bodySha256}, content ${actual} at offset ${footerAt}`);
  });

  it('xid mismatch between BEGIN and COMMIT', () => {
    const b = mutate('COMMIT; -- xid 1235', 'COMMIT; -- xid 1236');
    const at = b.indexOf('COMMIT; -- xid 1236');
    expect(problem(b)).toBe(`seg.sql: COMMIT xid 1236 does not match BEGIN xid 1235 (offset ${scan.transactions[1]!.byteStart}) at offset ${at}`);
  });

  it('LSN order violation', () => {
    const b = mutate('commit_lsn 0/16B3800', 'commit_lsn 0/16B3700');
    expect(problem(b)).toBe(
      `seg.sql: commit_lsn 0/16B3700 of xid 1235 is before 0/16B37D8, the end of what precedes it at offset ${scan.transactions[1]!.byteStart}`,
    );
    const c = mutate('end_lsn 0/16B37D8', 'end_lsn 0/16B37A0');
    expect(problem(c)).toMatch(/end_lsn 0\/16B37A0 of xid 1234 is not after its commit_lsn 0\/16B37A0 at offset \d+/);
  });

  it('missing footer (truncated)', () => {
    const cut = bytes.subarray(0, scan.transactions[1]!.byteStart + 10);
    expect(problem(cut)).toBe(`seg.sql: missing footer, the segment is truncated (11 bytes after the last COMMIT) at offset ${scan.transactions[0]!.byteEnd}`);
  });

  it('footer counts and bytes after the footer', () => {
    expect(problem(mutate('transactions 2', 'transactions 3'))).toBe(`seg.sql: footer says 3 transactions, found 2 at offset ${footerAt}`);
    expect(problem(Buffer.concat([bytes, Buffer.from('x')]))).toBe(`seg.sql: bytes after the footer at offset ${bytes.length}`);
    expect(problem(mutate('BEGIN; -- xid 1235 commit_lsn', 'BEGIN; -- xid 1235 commit_lsm'))).toMatch(/^seg.sql: malformed BEGIN marker at offset \d+$/);
  });

  it('a statement line outside any transaction, and a whole line after the footer', () => {
    const between = scan.transactions[0]!.byteEnd;
    const outside = Buffer.concat([bytes.subarray(0, between), Buffer.from('DELETE FROM t;\n'), bytes.subarray(between)]);
    expect(scanSegment(outside).issues).toContainEqual({ offset: between, problem: 'a line outside any transaction' });
    const after = Buffer.concat([bytes, Buffer.from('INSERT INTO t VALUES (1);\n')]);
    expect(scanSegment(after).issues).toContainEqual({ offset: bytes.length, problem: 'bytes after the footer' });
  });

  it('an unreadable header', () => {
    const result = verifySegment(Buffer.from('hello\n'), 'x.sql');
    expect(result.ok).toBe(false);
    expect(result.ok ? '' : result.error.message).toMatch(/^x.sql: incomplete header at offset 6/);
  });
});

describe('containsMarker', () => {
  it('flags a marker at a line start only', () => {
    expect(containsMarker("SELECT 'BEGIN; -- xid 1';")).toBe(false);
    expect(containsMarker('CREATE FUNCTION f() AS $$\nCOMMIT; -- xid 5\n$$;')).toBe(true);
    expect(containsMarker('-- end of segment: x')).toBe(true);
  });
});
