/**
 * Segment file names. Zero-padded 16-hex-digit LSNs make a plain `ls` list segments in LSN
 * order:
 * - sealed: `<start16>_<end16>.sql` or `<start16>_<end16>.sql.gz`, in `segments/<yyyy-mm-dd>/`
 *   (UTC date of the segment's last commit);
 * - open: `<start16>.sql.partial`, in `segments/partial/`.
 */
import { fileHexToLsn, lsnToFileHex, type Lsn } from '../lsn';
import { normalizeTime } from './commit-time';

export type SegmentName = { kind: 'sealed'; startLsn: Lsn; endLsn: Lsn; compressed: boolean } | { kind: 'partial'; startLsn: Lsn };

const SEALED = /^([0-9A-F]{16})_([0-9A-F]{16})\.sql(\.gz)?$/;
const PARTIAL = /^([0-9A-F]{16})\.sql\.partial$/;

/** `<start16>_<end16>.sql` (+ `.gz` when compressed). */
export function sealedSegmentName(startLsn: Lsn, endLsn: Lsn, compressed: boolean): string {
  return `${lsnToFileHex(startLsn)}_${lsnToFileHex(endLsn)}.sql${compressed ? '.gz' : ''}`;
}

/** `<start16>.sql.partial`. */
export function partialSegmentName(startLsn: Lsn): string {
  return `${lsnToFileHex(startLsn)}.sql.partial`;
}

/** Parses a segment file name (no folder); null for anything else (temp files, strays). */
export function parseSegmentName(name: string): SegmentName | null {
  const s = SEALED.exec(name);
  if (s) {
    return { kind: 'sealed', startLsn: fileHexToLsn(s[1] as string), endLsn: fileHexToLsn(s[2] as string), compressed: s[3] !== undefined };
  }
  const p = PARTIAL.exec(name);
  if (p) return { kind: 'partial', startLsn: fileHexToLsn(p[1] as string) };
  return null;
}

/** `yyyy-mm-dd`, the UTC date of a commit time (ISO with offset). */
export function segmentDateFolder(commitTime: string): string {
  return normalizeTime(commitTime).slice(0, 10);
}

/** True for a `yyyy-mm-dd` folder name. */
export function isDateFolder(name: string): boolean {
  return /^\d{4}-\d{2}-\d{2}$/.test(name);
}
