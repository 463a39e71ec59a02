import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { filesForWindow, logTransactions, type LoggedTxn } from '../../../src/adapters/fs/segment-log-reader';
import { partialSegmentName, sealedSegmentName } from '../../../src/core/segment/naming';
import { header, renderSegment, type TestTxn } from '../../core/segment/segment-builder';
import type { LogFilter } from '../../../src/core/segment/txn-log';

const txn = (xid: number): TestTxn => ({
  xid,
  commitLsn: BigInt(xid * 0x1000),
  endLsn: BigInt(xid * 0x1000 + 0x80),
  commitTime: `2026-11-27T14:00:${String(xid).padStart(2, '0')}.000000Z`,
  statements: [`DELETE FROM ONLY public.orders WHERE id = '${xid}';`],
});

describe('segment log reader', () => {
  let chain: string;

  beforeAll(() => {
    chain = mkdtempSync(join(tmpdir(), 'pgincr-log-reader-'));
    mkdirSync(join(chain, 'segments', '2026-11-27'), { recursive: true });
    mkdirSync(join(chain, 'segments', 'partial'), { recursive: true });
    // three segments: xids 1-3 (gzip), 4-6 (plain), 7-9 (gzip); the open one: 10, 11 and a torn 12
    const seg = (from: number, compressed: boolean) => {
      const txns = [from, from + 1, from + 2].map(txn);
      const start = BigInt(from * 0x1000 - 0x800);
      const end = BigInt((from + 2) * 0x1000 + 0x80);
      const bytes = renderSegment({ ...header, startLsn: start }, txns);
      writeFileSync(join(chain, 'segments', '2026-11-27', sealedSegmentName(start, end, compressed)), compressed ? gzipSync(bytes) : bytes);
    };
    seg(1, true);
    seg(4, false);
    seg(7, true);
    const open = Buffer.concat([
      renderSegment({ ...header, startLsn: 0x9080n }, [txn(10), txn(11)], false),
      Buffer.from('\nBEGIN; -- xid 12 commit_lsn 0/C000 committed 2026-11-27 14:00:12.000000+00\nDELETE FROM ONLY public.or'),
    ]);
    writeFileSync(join(chain, 'segments', 'partial', partialSegmentName(0x9080n)), open);
  });

  afterAll(() => rmSync(chain, { recursive: true, force: true }));

  async function xids(filter: LogFilter, limit?: number): Promise<number[]> {
    const out: LoggedTxn[] = [];
    for await (const t of logTransactions(chain, filter, limit)) out.push(t);
    return out.map((t) => t.xid);
  }

  it('reads sealed gzip and plain segments, then the open one without its torn tail, in LSN order', async () => {
    expect(await xids({})).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
    expect(await xids({ where: { column: 'id', literal: "'5'" } })).toEqual([5]);
    expect(await xids({}, 4)).toEqual([1, 2, 3, 4]);
  });

  it('reads only the files that can hold the LSN window', async () => {
    const files = await filesForWindow(chain, { fromLsn: 0x5000n, toLsn: 0x6000n });
    expect(files.map((f) => f.file)).toEqual(['segments/2026-11-27/0000000000003800_0000000000006080.sql']);
    expect(await xids({ fromLsn: 0x5000n, toLsn: 0x6000n })).toEqual([5, 6]);
    expect((await filesForWindow(chain, { fromLsn: 0xa000n })).map((f) => f.partial)).toEqual([true]);
    expect(await xids({ fromLsn: 0x8000n, toLsn: 0xa000n })).toEqual([8, 9, 10]);
  });
});
