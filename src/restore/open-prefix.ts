/**
 * "Latest" without a running capture (issue 15): when nothing seals the open segment for a
 * restore to latest (src/restore/open-segment.ts), the restore still includes its WHOLE
 * transactions: the bytes up to the end of its last COMMIT line, exactly as a resuming capture
 * keeps them (it cuts only what follows: the torn tail, a transaction cut mid-way). The plan
 * reads them once and records their length and SHA-256; the applier reads them again — from the
 * `.partial`, or from the sealed segment it became meanwhile (a capture that started again may
 * seal it: the same bytes, a footer after them) — and applies them only when they are the very
 * bytes planned. Read-only: the open segment belongs to the capture (docs/design.md invariant 11).
 */
import { createHash } from 'node:crypto';
import { open, type FileHandle } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { SegmentCorruptError } from '../errors';
import { formatLsn, parseLsn } from '../core/lsn';
import { SegmentScanner, type ScanResult } from '../core/segment/scan';
import { findPartial, listSealedSegments, scanSegmentFile, segmentChunks, type FileScan } from '../adapters/fs/segment-files';

/** The open segment's whole transactions as a restore planned them. */
export interface OpenPrefix {
  /** The open segment when planned, relative to the chain: `segments/partial/<start16>.sql.partial`. */
  file: string;
  startLsn: string;
  /** Bytes up to the end of its last COMMIT line: the restore applies these and nothing after. */
  length: number;
  /** SHA-256 of those bytes: the applier applies exactly what the plan read. */
  sha256: string;
  transactions: number;
  /** End LSN and commit time of the last whole transaction. */
  lastEndLsn: string;
  lastCommitTime: string;
}

/** Grammar problems before `length` (a damaged open segment): the first, or null. */
function problemBefore(scan: ScanResult, length: number): string | null {
  const issue = scan.issues.filter((i) => i.offset < length).sort((a, b) => a.offset - b.offset)[0];
  return issue ? `${issue.problem} at offset ${issue.offset}` : null;
}

/**
 * The whole transactions of the chain's open segment, or why none can be used: no open segment
 * (or it was sealed just now), no whole transaction in it, a damaged one, or one that does not
 * start where the planned segments end (`segmentsEnd`; with none planned, at or before the base).
 */
export async function planOpenPrefix(
  chain: string,
  plan: { baseLsn: string; segmentsEnd: string | null },
): Promise<{ prefix: OpenPrefix; roleLines: string[] } | { reason: string }> {
  const partial = await findPartial(chain);
  if (!partial) return { reason: 'the open segment was sealed while the restore was planned: run the restore again to include it' };
  let read: FileScan;
  try {
    // Streamed: the open segment may hold a transaction of any size.
    read = await scanSegmentFile(partial.path);
  } catch (error) {
    if ((error as { code?: string }).code === 'ENOENT') {
      return { reason: 'the open segment was sealed while the restore was planned: run the restore again to include it' };
    }
    throw error;
  }
  const scan = read.scan;
  const damaged = problemBefore(scan, scan.completeLength);
  if (damaged) return { reason: `${partial.path} is damaged (${damaged}): its transactions are left out` };
  const last = scan.transactions.at(-1);
  if (!last) return { reason: `${partial.path} holds no whole transaction` };
  const start = scan.header.startLsn;
  // Contiguous with what is planned: it starts at the planned segments' end, or (no segment
  // planned) at or before the base, whose LSN the applier skips to.
  const contiguous = plan.segmentsEnd === null ? start <= parseLsn(plan.baseLsn) : start === parseLsn(plan.segmentsEnd);
  if (!contiguous) {
    const end = plan.segmentsEnd ?? `the base at ${plan.baseLsn}`;
    return { reason: `${partial.path} starts at ${formatLsn(start)}, not where the planned chain ends (${end}): its transactions are left out` };
  }
  const length = scan.completeLength;
  return {
    prefix: {
      file: relative(chain, partial.path),
      startLsn: formatLsn(start),
      length,
      sha256: read.scanner.completeHash().digest('hex'),
      transactions: scan.transactions.length,
      lastEndLsn: formatLsn(last.endLsn),
      lastCommitTime: last.commitTime,
    },
    // The roles its DDL switches to, for the plan's check of the target.
    roleLines: scan.roleLines,
  };
}

/** The open segment's planned bytes, checked, ready to be read again by the applier. */
export interface OpenPrefixRead {
  /** The file read: the `.partial`, or the sealed segment it became. */
  path: string;
  /** The scan of the planned bytes, and their SHA-256 (the plan's). */
  scan: ScanResult;
  sha256: string;
  /** The planned bytes again, from the same open file (whatever is renamed or removed meanwhile). */
  chunks(): AsyncIterable<Buffer>;
  close(): Promise<void>;
}

/**
 * The planned bytes of the open segment, for the applier: from the `.partial`, else from the
 * sealed segment with the same start (sealed since the plan), checked against the plan's length
 * and SHA-256, streamed (never held whole). The file stays open for the applier's reading.
 * Throws SegmentCorruptError naming the file when they differ.
 */
export async function readOpenPrefix(chain: string, prefix: OpenPrefix): Promise<OpenPrefixRead> {
  let path = join(chain, prefix.file);
  let handle: FileHandle;
  try {
    handle = await open(path, 'r');
  } catch (error) {
    if ((error as { code?: string }).code !== 'ENOENT') throw error;
    const sealed = (await listSealedSegments(chain)).find((s) => s.startLsn === parseLsn(prefix.startLsn));
    if (!sealed) {
      throw new SegmentCorruptError(`${path}: the open segment planned for this restore is gone, and no sealed segment starts at ${prefix.startLsn}`, {
        hint: 'run the restore again: it plans from what the chain holds now',
      });
    }
    path = sealed.path;
    handle = await open(path, 'r');
  }
  try {
    const scanner = new SegmentScanner(path);
    const hash = createHash('sha256');
    let length = 0;
    for await (const chunk of segmentChunks(path, { handle, limit: prefix.length })) {
      hash.update(chunk);
      scanner.push(chunk);
      length += chunk.length;
    }
    if (length !== prefix.length || hash.digest('hex') !== prefix.sha256) {
      throw new SegmentCorruptError(
        `${path}: its first ${prefix.length} bytes (the open segment's whole transactions up to ${prefix.lastEndLsn}) changed since the restore was planned, at offset 0`,
        { hint: 'run the restore again: it plans from what the chain holds now' },
      );
    }
    const scan = scanner.finish();
    const damaged = problemBefore(scan, prefix.length);
    if (damaged || scan.transactions.length !== prefix.transactions) {
      throw new SegmentCorruptError(`${path}: ${damaged ?? `${scan.transactions.length} transactions, ${prefix.transactions} planned`}`, {
        hint: 'run the restore again: it plans from what the chain holds now',
      });
    }
    const opened = handle;
    return { path, scan, sha256: prefix.sha256, chunks: () => segmentChunks(path, { handle: opened, limit: prefix.length }), close: () => opened.close() };
  } catch (error) {
    await handle.close();
    throw error;
  }
}
