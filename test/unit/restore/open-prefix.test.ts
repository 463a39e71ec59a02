/**
 * The open segment's whole transactions for a restore to latest that nothing sealed it for
 * (src/restore/open-prefix.ts): only up to the last COMMIT line, never a torn transaction; the
 * same bytes at apply time, from the `.partial` or from the sealed segment it became; anything
 * else refused, naming the file. The files are never written.
 */
import { mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { formatLsn } from '../../../src/core/lsn';
import { renderBegin } from '../../../src/core/segment/grammar';
import { partialSegmentName, sealedSegmentName } from '../../../src/core/segment/naming';
import { planOpenPrefix, readOpenPrefix, type OpenPrefix } from '../../../src/restore/open-prefix';
import { header, renderSegment, sampleTxns } from '../../core/segment/segment-builder';

describe('open segment prefix', () => {
  let chain: string;
  let partial: string;
  const txns = sampleTxns();
  const start = formatLsn(header.startLsn);
  const torn = `${renderBegin({ xid: 1236, commitLsn: 0x16b3a00n, commitTime: '2026-11-27T14:00:02Z' })}INSERT INTO public.users (id) VALUES ('9');\nINSERT INTO pub`;

  beforeEach(() => {
    chain = mkdtempSync(join(tmpdir(), 'pgincr-open-prefix-'));
    mkdirSync(join(chain, 'segments', 'partial'), { recursive: true });
    partial = join(chain, 'segments', 'partial', partialSegmentName(header.startLsn));
    writeFileSync(partial, Buffer.concat([renderSegment(header, txns, false), Buffer.from(torn, 'latin1')]));
  });
  afterEach(() => rmSync(chain, { recursive: true, force: true }));

  const plan = async (): Promise<OpenPrefix> => {
    const r = await planOpenPrefix(chain, { baseLsn: start, segmentsEnd: null });
    if (!('prefix' in r)) throw new Error(r.reason);
    return r.prefix;
  };

  it('stops at the last COMMIT line: the torn transaction after it is left out, the file is not written', async () => {
    const before = readFileSync(partial);
    const prefix = await plan();
    expect(prefix).toMatchObject({
      file: `segments/partial/${partialSegmentName(header.startLsn)}`,
      startLsn: start,
      transactions: 2,
      lastEndLsn: '0/16B3900',
    });
    expect(prefix.lastCommitTime).toBe('2026-11-27T14:00:01.000001Z');
    expect(prefix.length).toBe(renderSegment(header, txns, false).length);
    const read = await readOpenPrefix(chain, prefix);
    expect(read.scan.transactions.map((t) => t.xid)).toEqual([1234, 1235]);
    const again: Buffer[] = [];
    for await (const chunk of read.chunks()) again.push(chunk);
    await read.close();
    expect(Buffer.concat(again).equals(renderSegment(header, txns, false))).toBe(true);
    expect(readFileSync(partial).equals(before)).toBe(true);
  });

  it('reads the same bytes from the sealed segment when the capture sealed it after the plan', async () => {
    const prefix = await plan();
    const sealedDir = join(chain, 'segments', '2026-11-27');
    mkdirSync(sealedDir, { recursive: true });
    const more = [...txns, { xid: 1237, commitLsn: 0x16b3b00n, endLsn: 0x16b3c00n, commitTime: '2026-11-27T14:00:03Z', statements: ['SELECT 1;'] }];
    writeFileSync(join(sealedDir, sealedSegmentName(header.startLsn, 0x16b3c00n, false)), renderSegment(header, more, true));
    rmSync(partial);
    const read = await readOpenPrefix(chain, prefix);
    expect(read.path).toContain('2026-11-27');
    expect(read.scan.transactions.map((t) => t.xid)).toEqual([1234, 1235]); // what was planned, not what came after
    await read.close();
  });

  it('refuses bytes that changed since the plan, naming the file', async () => {
    const prefix = await plan();
    const text = readFileSync(partial, 'latin1').replace("'Alice Smith'", "'Alice Smyth'");
    writeFileSync(partial, text, 'latin1');
    await expect(readOpenPrefix(chain, prefix)).rejects.toThrow(`${partial}: its first ${prefix.length} bytes`);
  });

  it('leaves out an open segment that does not start where the planned chain ends, or holds no whole transaction', async () => {
    expect(await planOpenPrefix(chain, { baseLsn: start, segmentsEnd: '0/16B3000' })).toEqual({
      reason: expect.stringContaining('not where the planned chain ends (0/16B3000)'),
    });
    writeFileSync(partial, Buffer.concat([renderSegment(header, [], false), Buffer.from(torn, 'latin1')]));
    expect(await planOpenPrefix(chain, { baseLsn: start, segmentsEnd: null })).toEqual({ reason: `${partial} holds no whole transaction` });
    renameSync(partial, `${partial}.moved`);
    expect(await planOpenPrefix(chain, { baseLsn: start, segmentsEnd: null })).toEqual({
      reason: expect.stringContaining('sealed while the restore was planned'),
    });
  });

  it('leaves out a damaged open segment', async () => {
    writeFileSync(partial, renderSegment(header, txns, false).toString('latin1').replace('COMMIT; -- xid 1234', 'COMMIT; -- xid 9999'), 'latin1');
    expect(await planOpenPrefix(chain, { baseLsn: start, segmentsEnd: null })).toEqual({ reason: expect.stringMatching(/is damaged \(.+ at offset \d+\)/) });
  });
});
