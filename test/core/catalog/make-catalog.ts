import { addBase, addSegment, emptyCatalog } from '../../../src/core/catalog/catalog';
import type { BaseEntry, Catalog, SegmentEntry } from '../../../src/core/catalog/schema';
import { formatLsn } from '../../../src/core/lsn';
import { baseId, baseRelDir, segmentRelPath } from '../../../src/core/repository/paths';

const sha = 'a'.repeat(64);

export function base(lsn: bigint, takenAt: string): BaseEntry {
  const id = baseId(takenAt, lsn);
  return {
    id,
    dir: baseRelDir(id),
    lsn: formatLsn(lsn),
    takenAt,
    format: 'plain',
    bytes: 100,
    checksumsFile: `${baseRelDir(id)}/checksums.json`,
  };
}

export function segment(start: bigint, end: bigint, firstCommitTime: string, lastCommitTime: string): SegmentEntry {
  return {
    file: segmentRelPath(lastCommitTime.slice(0, 10), start, end, true),
    startLsn: formatLsn(start),
    endLsn: formatLsn(end),
    firstCommitTime,
    lastCommitTime,
    transactions: 1,
    changes: 1,
    bytes: 10,
    sha256: sha,
    compressed: true,
    sha256Uncompressed: sha,
  };
}

export function makeCatalog(bases: BaseEntry[], segments: SegmentEntry[]): Catalog {
  let c = emptyCatalog('42', 'app');
  for (const b of bases) c = addBase(c, b);
  for (const s of segments) c = addSegment(c, s);
  return c;
}
