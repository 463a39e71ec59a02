/**
 * A crash after a seal's rename and before its catalog entry leaves a sealed segment the catalog
 * does not list; the capture's start (its resume point) records it, so restore plans see no gap.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SegmentWriter, type HeaderFields } from '../../src/adapters/fs/segment-writer';
import { loadCatalog, updateCatalog } from '../../src/adapters/fs/catalog-store';
import { addSegment, emptyCatalog, findGaps } from '../../src/core/catalog/catalog';
import { chainDir } from '../../src/core/repository/paths';
import { createCaptureDeps } from '../../src/capture/capture-deps';

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
  root = await mkdtemp(join(tmpdir(), 'pgincr-reconcile-'));
  chain = chainDir(root, fields.systemIdentifier, fields.database);
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

/** One segment of `count` transactions from `lsn`, sealed; returns its catalog entry. */
async function sealSegment(lsn: bigint, firstXid: number, count: number, compress: 'gzip' | 'none') {
  const w = await SegmentWriter.open(chain, fields, lsn);
  let end = lsn;
  for (let xid = firstXid; xid < firstXid + count; xid++) {
    await w.beginTransaction({ xid, commitLsn: end + 0x10n, commitTime: `2026-11-27T14:00:${String(xid % 60).padStart(2, '0')}.000001Z` });
    await w.writeStatement(`INSERT INTO public.t (id) VALUES ('${xid}');`);
    end = await w.commitTransaction({ xid, endLsn: end + 0x100n });
  }
  const entry = await w.seal({ compress });
  if (!entry) throw new Error('nothing sealed');
  return { entry, end };
}

describe('capture start records sealed segments missing from the catalog', () => {
  it('adds exactly the unlisted files, then changes nothing', async () => {
    const first = await sealSegment(0x1000n, 1, 3, 'none');
    await updateCatalog(chain, (c) => addSegment(c ?? emptyCatalog(fields.systemIdentifier, fields.database), first.entry));
    // The crash window: sealed and renamed, never recorded.
    const second = await sealSegment(first.end, 4, 2, 'gzip');
    expect((await loadCatalog(chain))?.segments.map((s) => s.file)).toEqual([first.entry.file]);

    const logged: object[] = [];
    const deps = createCaptureDeps({
      profile: {},
      chainDir: chain,
      log: { info: () => undefined, warn: (obj) => logged.push(obj) },
    });
    expect(await deps.resumePoint()).toBe(second.end);
    const catalog = await loadCatalog(chain);
    expect(catalog?.segments).toEqual([first.entry, second.entry]);
    expect(findGaps(catalog!)).toEqual([]);
    expect(logged).toEqual([{ files: [second.entry.file] }]);

    expect(await deps.resumePoint()).toBe(second.end);
    expect(logged).toHaveLength(1);
  });

  it('creates the catalog when the very first seal was never recorded', async () => {
    const only = await sealSegment(0x2000n, 10, 1, 'none');
    expect(await loadCatalog(chain)).toBeNull();
    await createCaptureDeps({ profile: {}, chainDir: chain }).resumePoint();
    const catalog = await loadCatalog(chain);
    expect(catalog).toMatchObject({ chain: { systemIdentifier: fields.systemIdentifier, database: 'app' }, segments: [only.entry] });
  });
});
