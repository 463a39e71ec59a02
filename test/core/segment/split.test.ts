/**
 * The applier's second reading of a verified segment (src/core/segment/split.ts): whatever the
 * chunk boundaries, the same header, transactions and statement lines come out, the body hash is
 * the footer's, and bytes that are not what was verified are refused with their offset.
 */
import { createHash } from 'node:crypto';
import { TransactionSplitter, type SegmentPiece } from '../../../src/core/segment/split';
import { parseFooterLine } from '../../../src/core/segment/grammar';
import { header, renderSegment, sampleTxns, type TestTxn } from './segment-builder';

interface Read {
  header: string;
  txns: { xid: number; endLsn: bigint; body: string; offset: number; end: number }[];
  end: ReturnType<TransactionSplitter['finish']>;
}

/** Pushes `bytes` in chunks of `size` and collects what comes out. */
function read(bytes: Buffer, size: number): Read {
  const splitter = new TransactionSplitter('seg.sql');
  const out: Read = { header: '', txns: [], end: undefined as never };
  let body: Buffer[] = [];
  let offset = -1;
  const take = (p: SegmentPiece) => {
    if (p.kind === 'header') out.header += p.bytes.toString('latin1');
    else if (p.kind === 'begin') {
      body = [];
      offset = p.offset;
    } else if (p.kind === 'lines') {
      // Lines come whole and in file order, at their offsets.
      expect(p.bytes[p.bytes.length - 1]).toBe(10);
      expect(bytes.subarray(p.offset, p.offset + p.bytes.length).equals(p.bytes)).toBe(true);
      body.push(Buffer.from(p.bytes));
    } else out.txns.push({ xid: p.meta.xid, endLsn: p.meta.endLsn, body: Buffer.concat(body).toString('latin1'), offset, end: p.end });
  };
  for (let at = 0; at < bytes.length; at += size) splitter.push(bytes.subarray(at, at + size)).forEach(take);
  out.end = splitter.finish();
  return out;
}

const long = `INSERT INTO public.docs (id, body) VALUES ('1', '${'x'.repeat(5000)}');`;
const txns: TestTxn[] = [
  ...sampleTxns(),
  { xid: 1300, commitLsn: 0x16b4000n, endLsn: 0x16b5000n, commitTime: '2026-11-27T14:00:02Z', statements: [long, 'COMMENT ON TABLE t IS $$x$$;', ''] },
];

describe('TransactionSplitter', () => {
  const sealed = renderSegment(header, txns, true);
  const footer = parseFooterLine(sealed.toString('latin1').trimEnd().split('\n').at(-1) as string);

  it.each([1, 2, 3, 7, 64, 4096, sealed.length])('reads the same transactions in chunks of %i bytes, the body hash the footer’s', (size) => {
    const r = read(sealed, size);
    expect(r.header.split('\n').length).toBe(8); // seven lines and their newlines
    expect(r.txns.map((t) => t.xid)).toEqual([1234, 1235, 1300]);
    expect(r.txns.map((t) => t.body)).toEqual(txns.map((t) => t.statements.map((s) => `${s}\n`).join('')));
    expect(r.txns.map((t) => t.endLsn)).toEqual(txns.map((t) => t.endLsn));
    for (const t of r.txns) {
      expect(sealed.toString('latin1', t.offset, t.offset + 14)).toBe('BEGIN; -- xid ');
      expect(sealed.toString('latin1', t.end - 1, t.end)).toBe('\n');
    }
    expect(r.end).toEqual({ length: sealed.length, bodySha256: footer?.bodySha256, transactions: 3, footer: true });
  });

  it('an open segment: no footer, the hash of every byte', () => {
    const open = renderSegment(header, txns, false);
    const r = read(open, 5);
    expect(r.end.footer).toBe(false);
    expect(r.end.bodySha256).toBe(createHash('sha256').update(open).digest('hex'));
  });

  it('refuses what was not verified, naming the offset', () => {
    const text = sealed.toString('latin1');
    const stray = Buffer.from(text.replace('\nBEGIN; -- xid 1235', '\nstray line;\nBEGIN; -- xid 1235'), 'latin1');
    expect(() => read(stray, 10)).toThrow(/a line outside any transaction at offset \d+ \(the file changed after it was verified\)/);
    const wrongCommit = Buffer.from(text.replace('COMMIT; -- xid 1235', 'COMMIT; -- xid 1299'), 'latin1');
    expect(() => read(wrongCommit, 10)).toThrow(/a COMMIT marker that is not xid 1235's/);
    const cut = sealed.subarray(0, sealed.indexOf('COMMIT; -- xid 1300'));
    expect(() => read(cut, 10)).toThrow(/no COMMIT for xid 1300/);
    expect(() => read(sealed.subarray(0, sealed.length - 3), 10)).toThrow(/an incomplete last line/);
  });
});
