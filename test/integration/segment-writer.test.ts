import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { appendFile, copyFile, mkdir, mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { SegmentWriter, findResumePoint, type HeaderFields } from '../../src/adapters/fs/segment-writer';
import { createCaptureDeps } from '../../src/capture/capture-deps';
import { describeBase, loadCatalog, rebuildCatalog, saveCatalog } from '../../src/adapters/fs/catalog-store';
import { verifySegmentFile } from '../../src/adapters/fs/segment-files';
import { addBase, addCheckpoint, addSegment, emptyCatalog } from '../../src/core/catalog/catalog';
import type { SegmentEntry } from '../../src/core/catalog/schema';
import { baseDir, baseId, chainDir, checkpointPath, partialPath } from '../../src/core/repository/paths';

const fields: HeaderFields = {
  systemIdentifier: '7312345678901234567',
  database: 'app',
  serverVersion: 'PostgreSQL 15.20',
  encoding: 'UTF8',
  slot: 'pgincr',
  decoder: 'pgoutput',
  timeline: 1,
};

let root: string;
let chain: string;

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'pgincr-writer-'));
  chain = chainDir(root, fields.systemIdentifier, fields.database);
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

const time = (n: number) => `2026-11-27T14:00:${String(n).padStart(2, '0')}.000001Z`;

/** Writes transactions xid = first…first+count-1, each 0x100 wide, starting at `lsn`. */
async function writeTxns(w: SegmentWriter, lsn: bigint, first: number, count: number): Promise<bigint> {
  let end = lsn;
  for (let xid = first; xid < first + count; xid++) {
    await w.beginTransaction({ xid, commitLsn: end + 0x10n, commitTime: time(xid % 60) });
    await w.writeStatement(`INSERT INTO public.t (id, note) VALUES ('${xid}', 'caf\xc3\xa9 ''q'' \\');`);
    await w.writeStatement(`DELETE FROM public.t WHERE id = '${xid - 1}'`);
    end = await w.commitTransaction({ xid, endLsn: end + 0x100n });
  }
  return end;
}

async function sealedFiles(): Promise<string[]> {
  const out: string[] = [];
  for (const d of await readdir(join(chain, 'segments'))) {
    if (d === 'partial') continue;
    for (const f of await readdir(join(chain, 'segments', d))) out.push(`segments/${d}/${f}`);
  }
  return out.sort();
}

describe('SegmentWriter', () => {
  it('writes whole transactions, fsyncs at commit, seals a verifiable segment', async () => {
    const w = await SegmentWriter.open(chain, fields, 0x1000n);
    expect(w.resume).toMatchObject({ resumed: false, transactions: 0, lastEndLsn: 0x1000n });
    const end = await writeTxns(w, 0x1000n, 100, 3);
    expect(end).toBe(0x1300n);
    expect(w.stats()).toMatchObject({ transactions: 3, changes: 6, lastEndLsn: 0x1300n });
    expect(w.alreadyWritten(0x1210n)).toBe(true);
    expect(w.alreadyWritten(0x1300n)).toBe(false);
    await expect(w.beginTransaction({ xid: 1, commitLsn: 0x1210n, commitTime: time(1) })).rejects.toThrow(/already written/);
    const entry = (await w.seal({ compress: 'none' })) as SegmentEntry;
    expect(entry).toMatchObject({
      file: 'segments/2026-11-27/0000000000001000_0000000000001300.sql',
      startLsn: '0/1000',
      endLsn: '0/1300',
      firstCommitTime: '2026-11-27T14:00:40.000001Z',
      transactions: 3,
      changes: 6,
      compressed: false,
    });
    const bytes = await readFile(join(chain, entry.file));
    expect(entry.sha256).toBe(createHash('sha256').update(bytes).digest('hex'));
    expect(entry.bytes).toBe(bytes.length);
    expect(bytes.toString('latin1')).toContain("VALUES ('100', 'caf\xc3\xa9 ''q'' \\');\nDELETE FROM public.t WHERE id = '99'\nCOMMIT; -- xid 100 ");
    const { scan } = await verifySegmentFile(join(chain, entry.file));
    expect(scan.transactions.map((t) => t.xid)).toEqual([100, 101, 102]);
    expect((await stat(join(chain, entry.file))).mode & 0o777).toBe(0o600);
    expect((await stat(join(chain, 'segments', '2026-11-27'))).mode & 0o777).toBe(0o700);
    expect(await readdir(join(chain, 'segments', 'partial'))).toEqual([]);
  });

  it('resumes after a crash mid-transaction: cuts the torn tail, keeps counts, seals a valid segment', async () => {
    const w = await SegmentWriter.open(chain, fields, 0x1000n);
    await writeTxns(w, 0x1000n, 1, 2);
    await w.close();
    const partial = partialPath(chain, 0x1000n);
    const torn = "\nBEGIN; -- xid 3 commit_lsn 0/1210 committed 2026-11-27 14:00:03.000000+00\nINSERT INTO public.t VALUES ('3');\nCOMMIT; -- xid 3 end_l";
    await appendFile(partial, torn, 'latin1');
    expect(await findResumePoint(chain)).toEqual({ lsn: 0x1200n, source: 'partial', file: partial });

    const r = await SegmentWriter.open(chain, fields, 0x9999n);
    expect(r.resume).toEqual({
      resumed: true,
      path: partial,
      startLsn: 0x1000n,
      transactions: 2,
      changes: 4,
      lastCommitLsn: 0x1110n,
      lastEndLsn: 0x1200n,
      cutBytes: torn.length,
    });
    await writeTxns(r, 0x1200n, 3, 1);
    const entry = (await r.seal({ compress: 'none' })) as SegmentEntry;
    expect(entry).toMatchObject({ startLsn: '0/1000', endLsn: '0/1300', transactions: 3, changes: 6 });
    const { scan } = await verifySegmentFile(join(chain, entry.file));
    expect(scan.transactions.map((t) => t.xid)).toEqual([1, 2, 3]);
  });

  it('resumes a partial whose footer was written but which was not renamed yet', async () => {
    const w = await SegmentWriter.open(chain, fields, 0x1000n);
    await writeTxns(w, 0x1000n, 1, 2);
    const first = (await w.seal({ compress: 'none' })) as SegmentEntry;
    await copyFile(join(chain, first.file), partialPath(chain, 0x1000n));
    await rm(join(chain, first.file));
    const r = await SegmentWriter.open(chain, fields, 0x1000n);
    expect(r.resume).toMatchObject({ resumed: true, transactions: 2, lastEndLsn: 0x1200n });
    expect(r.resume.cutBytes).toBeGreaterThan(80);
    expect(await r.seal({ compress: 'none' })).toEqual(first);
  });

  it("removes temp files a killed process left (a new partial header, a gzip), keeps a live process's (issue 18: kill-points test)", async () => {
    // A pid that no longer runs: a child that has exited.
    const dead = spawnSync('true').pid;
    const partialTemp = join(chain, 'segments', 'partial', `.0000000000001000.sql.partial.tmp-${dead}-0a1b2c3d`);
    const gzipTemp = join(chain, 'segments', '2026-11-27', `.0000000000001000_0000000000002000.sql.gz.tmp-${dead}-0a1b2c3d`);
    const liveTemp = join(chain, 'segments', 'partial', `.0000000000001000.sql.partial.tmp-${process.pid}-0a1b2c3d`);
    await mkdir(join(chain, 'segments', 'partial'), { recursive: true });
    await mkdir(join(chain, 'segments', '2026-11-27'), { recursive: true });
    for (const f of [partialTemp, gzipTemp, liveTemp]) await writeFile(f, 'half written');
    const w = await SegmentWriter.open(chain, fields, 0x1000n);
    await w.close();
    expect(await readdir(join(chain, 'segments', '2026-11-27'))).toEqual([]);
    expect((await readdir(join(chain, 'segments', 'partial'))).sort()).toEqual(
      ['.0000000000001000.sql.partial.tmp-' + process.pid + '-0a1b2c3d', '0000000000001000.sql.partial'].sort(),
    );
  });

  it("a rotation's open leaves the segment compressing in the background alone; the capture's first open removes a crash's leftover", async () => {
    // x.sql beside x.sql.gz: a crash's leftover at the capture's start, but at a rotation the
    // previous segment's compression between its rename and its unlink (CI failure: ENOENT).
    const dir = join(chain, 'segments', '2026-11-27');
    await mkdir(dir, { recursive: true });
    const sql = join(dir, '0000000000001000_0000000000002000.sql');
    const files = async () => (await readdir(dir)).sort();
    const deps = createCaptureDeps({ profile: { dbname: 'app' }, chainDir: chain });
    await writeFile(sql, 'sealed');
    await writeFile(`${sql}.gz`, 'compressed');
    const first = await deps.openWriter(fields, 0x2000n);
    expect(await files()).toEqual(['0000000000001000_0000000000002000.sql.gz']);
    await first.close();
    await writeFile(sql, 'sealed');
    const atRotation = await deps.openWriter(fields, 0x2000n);
    expect(await files()).toEqual(['0000000000001000_0000000000002000.sql', '0000000000001000_0000000000002000.sql.gz']);
    await atRotation.close();
  });

  it('refuses to resume a partial damaged before its last transaction', async () => {
    const w = await SegmentWriter.open(chain, fields, 0x1000n);
    await writeTxns(w, 0x1000n, 1, 2);
    await w.close();
    const partial = partialPath(chain, 0x1000n);
    const text = (await readFile(partial, 'latin1')).replace('COMMIT; -- xid 1 ', 'COMMIT; -- xid 7 ');
    await writeFile(partial, text, 'latin1');
    await expect(SegmentWriter.open(chain, fields, 0x1000n)).rejects.toThrow(/COMMIT xid 7 does not match BEGIN xid 1 .* at offset \d+/);
  });

  it('aborts a broken transaction back to its start', async () => {
    const w = await SegmentWriter.open(chain, fields, 0x1000n, { flushBytes: 64 });
    await writeTxns(w, 0x1000n, 1, 1);
    const before = w.stats().bytes;
    await w.beginTransaction({ xid: 2, commitLsn: 0x1110n, commitTime: time(2) });
    for (let i = 0; i < 20; i++) await w.writeStatement(`INSERT INTO public.t VALUES ('${i}');`);
    expect((await stat(partialPath(chain, 0x1000n))).size).toBeGreaterThan(before);
    await w.abortTransaction();
    expect((await stat(partialPath(chain, 0x1000n))).size).toBe(before);
    await writeTxns(w, 0x1100n, 3, 1);
    const entry = (await w.seal({ compress: 'none' })) as SegmentEntry;
    const { scan } = await verifySegmentFile(join(chain, entry.file));
    expect(scan.transactions.map((t) => t.xid)).toEqual([1, 3]);
  });

  it('group commit: buffered transactions survive an abort of the next one and seal verifiably', async () => {
    // flushBytes large enough that the committed transactions stay in the buffer (sync: false).
    const w = await SegmentWriter.open(chain, fields, 0x1000n, { flushBytes: 1 << 20 });
    const headerBytes = w.stats().bytes;
    let end = 0x1000n;
    for (const xid of [1, 2]) {
      expect(w.bufferBegin({ xid, commitLsn: end + 0x10n, commitTime: time(xid) })).toBe(false);
      expect(w.bufferStatement(`INSERT INTO public.t VALUES ('${xid}');`)).toBe(false);
      end += 0x100n;
      expect(w.bufferCommit({ xid, endLsn: end })).toBe(false);
    }
    expect((await stat(partialPath(chain, 0x1000n))).size).toBe(headerBytes); // nothing written yet
    const committed = w.stats().bytes;
    w.bufferBegin({ xid: 3, commitLsn: end + 0x10n, commitTime: time(3) });
    w.bufferStatement(`INSERT INTO public.t VALUES ('3');`);
    expect(() => w.bufferStatement('CREATE FUNCTION f() AS $$\nCOMMIT; -- xid 5\n$$;')).toThrow(/looks like a segment marker/);
    expect(() => w.bufferStatement('BEGIN; -- xid 9 commit_lsn 0/1')).toThrow(/looks like a segment marker/);
    await w.abortTransaction();
    expect(w.stats().bytes).toBe(committed);
    expect(await w.sync()).toBe(end);
    expect((await stat(partialPath(chain, 0x1000n))).size).toBe(committed);
    // A transaction bigger than the buffer, aborted after part of it reached the file.
    const small = await SegmentWriter.open(join(root, 'other'), fields, 0x1000n, { flushBytes: 64 });
    await writeTxns(small, 0x1000n, 1, 1);
    const before = small.stats().bytes;
    small.bufferBegin({ xid: 2, commitLsn: 0x1110n, commitTime: time(2) });
    for (let i = 0; i < 10; i++) if (small.bufferStatement(`INSERT INTO public.t VALUES ('${i}');`)) await small.writeBuffer();
    expect((await stat(partialPath(join(root, 'other'), 0x1000n))).size).toBeGreaterThan(before);
    await small.abortTransaction();
    await writeTxns(small, 0x1100n, 3, 1);
    for (const [writer, dir, xids] of [
      [w, chain, [1, 2]],
      [small, join(root, 'other'), [1, 3]],
    ] as const) {
      const entry = (await writer.seal({ compress: 'none' })) as SegmentEntry;
      const { scan } = await verifySegmentFile(join(dir, entry.file)); // body SHA-256 checked
      expect(scan.transactions.map((t) => t.xid)).toEqual(xids);
    }
  });

  it('does not seal an empty segment', async () => {
    const w = await SegmentWriter.open(chain, fields, 0x1000n);
    expect(await w.seal({ compress: 'gzip' })).toBeNull();
    await writeTxns(w, 0x1000n, 1, 1);
    expect(await w.seal({ compress: 'gzip' })).not.toBeNull();
  });

  it('gzips atomically and records both checksums; findResumePoint follows the chain', async () => {
    expect(await findResumePoint(chain)).toBeNull();
    const w = await SegmentWriter.open(chain, fields, 0x1000n);
    await writeTxns(w, 0x1000n, 1, 2);
    const entry = (await w.seal({ compress: 'gzip' })) as SegmentEntry;
    expect(entry.file).toBe('segments/2026-11-27/0000000000001000_0000000000001200.sql.gz');
    expect(await sealedFiles()).toEqual([entry.file]);
    const gz = await readFile(join(chain, entry.file));
    expect(entry.sha256).toBe(createHash('sha256').update(gz).digest('hex'));
    expect(entry.sha256Uncompressed).toBe(createHash('sha256').update(gunzipSync(gz)).digest('hex'));
    expect(entry.bytes).toBe(gz.length);
    await verifySegmentFile(join(chain, entry.file));
    expect(await findResumePoint(chain)).toMatchObject({ lsn: 0x1200n, source: 'sealed' });

    const next = await SegmentWriter.open(chain, fields, 0x1200n);
    expect(await findResumePoint(chain)).toMatchObject({ lsn: 0x1200n, source: 'partial' });
    await writeTxns(next, 0x1200n, 3, 1);
    expect(await findResumePoint(chain)).toMatchObject({ lsn: 0x1300n, source: 'partial' });
    await next.close();
  });

  it('gzips with in-process zlib where no gzip program exists, to the same content', async () => {
    const path = process.env.PATH;
    process.env.PATH = '/nonexistent';
    try {
      const w = await SegmentWriter.open(chain, fields, 0x1000n);
      await writeTxns(w, 0x1000n, 1, 2);
      const entry = (await w.seal({ compress: 'gzip' })) as SegmentEntry;
      const gz = await readFile(join(chain, entry.file));
      expect(entry.sha256).toBe(createHash('sha256').update(gz).digest('hex'));
      expect(entry.sha256Uncompressed).toBe(createHash('sha256').update(gunzipSync(gz)).digest('hex'));
      await verifySegmentFile(join(chain, entry.file));
    } finally {
      process.env.PATH = path;
    }
  });

  it('names the offset of a damaged sealed segment', async () => {
    const w = await SegmentWriter.open(chain, fields, 0x1000n);
    await writeTxns(w, 0x1000n, 1, 2);
    const entry = (await w.seal({ compress: 'none' })) as SegmentEntry;
    const path = join(chain, entry.file);
    const text = await readFile(path, 'latin1');
    await writeFile(path, text.replace("VALUES ('2'", "VALUES ('8'"), 'latin1');
    const footerAt = text.indexOf('-- end of segment');
    await expect(verifySegmentFile(path)).rejects.toThrow(new RegExp(`^${path}: body_sha256 mismatch: .* at offset ${footerAt}`));
    await writeFile(join(chain, `${entry.file}.gz`), 'not gzip');
    await rm(path);
    await expect(verifySegmentFile(join(chain, `${entry.file}.gz`))).rejects.toThrow(/cannot be read/);
  });

  it('keeps memory bounded for a 200 MB transaction', async () => {
    const w = await SegmentWriter.open(chain, fields, 0x1000n);
    const statement = `INSERT INTO public.big (v) VALUES ('${'x'.repeat(64 * 1024)}');`;
    const count = Math.ceil((200 * 1024 * 1024) / statement.length);
    global.gc?.();
    const rss0 = process.memoryUsage().rss;
    let peak = rss0;
    await w.beginTransaction({ xid: 5, commitLsn: 0x1010n, commitTime: time(5) });
    for (let i = 0; i < count; i++) {
      await w.writeStatement(statement);
      if (i % 256 === 0) peak = Math.max(peak, process.memoryUsage().rss);
    }
    await w.commitTransaction({ xid: 5, endLsn: 0x2000n });
    peak = Math.max(peak, process.memoryUsage().rss);
    expect(w.stats().bytes).toBeGreaterThan(200 * 1024 * 1024);
    expect(peak - rss0).toBeLessThan(100 * 1024 * 1024);
    const entry = (await w.seal({ compress: 'none' })) as SegmentEntry;
    const { scan } = await verifySegmentFile(join(chain, entry.file));
    expect(scan.transactions[0]?.changes).toBe(count);
  });
});

describe('catalog store', () => {
  async function makeBase(takenAt: string, lsn: bigint): Promise<string> {
    const id = baseId(takenAt, lsn);
    const dir = baseDir(chain, id);
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, 'dump.sql.gz'), 'dump');
    await writeFile(join(dir, 'metadata.json'), JSON.stringify({ lsn: '0/1000', takenAt, dumpSha256: 'b'.repeat(64) }));
    await writeFile(join(dir, 'checksums.json'), JSON.stringify({ lsn: '0/1000', takenAt, tables: {} }));
    return id;
  }

  it('rebuilds from the files the same catalog as the one built incrementally', async () => {
    const id = await makeBase('2026-11-27T13:59:00Z', 0x1000n);
    let catalog = addBase(emptyCatalog(fields.systemIdentifier, fields.database), await describeBase(chain, id));
    let w = await SegmentWriter.open(chain, fields, 0x1000n);
    let end = await writeTxns(w, 0x1000n, 1, 2);
    catalog = addSegment(catalog, (await w.seal({ compress: 'gzip' })) as SegmentEntry);
    w = await SegmentWriter.open(chain, fields, end);
    end = await writeTxns(w, end, 3, 3);
    catalog = addSegment(catalog, (await w.seal({ compress: 'none' })) as SegmentEntry);
    await mkdir(join(chain, 'checkpoints'));
    await writeFile(checkpointPath(chain, 0x1250n), JSON.stringify({ lsn: '0/1250', takenAt: '2026-11-27T15:00:00Z' }));
    catalog = addCheckpoint(catalog, { lsn: '0/1250', takenAt: '2026-11-27T15:00:00.000000Z', file: 'checkpoints/0000000000001250.json' });
    catalog = { ...catalog, verifications: [{ at: '2026-11-27T16:00:00Z', fromBase: id, toLsn: '0/1500', ok: true }] };
    await saveCatalog(chain, catalog);

    expect(await loadCatalog(chain)).toEqual(catalog);
    expect(await rebuildCatalog(chain)).toEqual(catalog);
    expect(catalog.bases[0]).toMatchObject({ lsn: '0/1000', format: 'plain', bytes: expect.any(Number), dumpSha256: 'b'.repeat(64) });
    await rm(join(chain, 'catalog'), { recursive: true });
    expect(await rebuildCatalog(chain)).toEqual({ ...catalog, verifications: [] });
  });

  it('rebuild leaves out a sealed segment that fails verification and names it (issue 18: recover what is whole)', async () => {
    const id = await makeBase('2026-11-27T13:59:00Z', 0x1000n);
    let w = await SegmentWriter.open(chain, fields, 0x1000n);
    let end = await writeTxns(w, 0x1000n, 1, 2);
    const first = (await w.seal({ compress: 'none' })) as SegmentEntry;
    w = await SegmentWriter.open(chain, fields, end);
    end = await writeTxns(w, end, 3, 3);
    const second = (await w.seal({ compress: 'none' })) as SegmentEntry;
    const path = join(chain, second.file);
    const bytes = await readFile(path);
    const at = bytes.indexOf('INSERT INTO') + 30;
    bytes[at] = bytes[at]! ^ 0x01;
    await writeFile(path, bytes);
    await expect(rebuildCatalog(chain)).rejects.toThrow(/body_sha256 mismatch/);
    const damaged: string[] = [];
    const catalog = await rebuildCatalog(chain, damaged);
    expect(catalog.bases.map((b) => b.id)).toEqual([id]);
    expect(catalog.segments.map((s) => s.file)).toEqual([first.file]);
    expect(damaged).toHaveLength(1);
    expect(damaged[0]).toMatch(new RegExp(`${path}: body_sha256 mismatch.* at offset \\d+`));
  });

  it('rejects an invalid catalog file with its path', async () => {
    expect(await loadCatalog(chain)).toBeNull();
    await mkdir(join(chain, 'catalog'), { recursive: true });
    await writeFile(join(chain, 'catalog', 'catalog.json'), JSON.stringify({ version: 1 }));
    await expect(loadCatalog(chain)).rejects.toThrow(new RegExp(`${chain}/catalog/catalog.json: invalid catalog: chain`));
  });
});
