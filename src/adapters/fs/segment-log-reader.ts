/**
 * `pgincr log`'s reader: the chain's segments in LSN order (sealed, then the open `.partial`),
 * only those whose LSN and commit-time ranges (from the catalog) meet the window, streamed
 * through zlib's gunzip when compressed into the pure filter (core/segment/txn-log.ts). Memory
 * stays bounded by the longest line and the statements kept for `--show`, whatever the sizes.
 */
import { createReadStream } from 'node:fs';
import { createGunzip } from 'node:zlib';
import type { Readable } from 'node:stream';
import { loadCatalog } from './catalog-store';
import type { Catalog, SegmentEntry } from '../../core/catalog/schema';
import { findPartial, listSealedSegments } from './segment-files';
import { parseLsn, type Lsn } from '../../core/lsn';
import { normalizeTime } from '../../core/segment/commit-time';
import { TxnLogFilter, type LogFilter, type TxnSummary } from '../../core/segment/txn-log';

/** One segment file to read. */
export interface LogFile {
  path: string;
  /** Relative to the chain (`segments/…`), as the catalog lists it. */
  file: string;
  startLsn: Lsn;
  partial: boolean;
  /** In an object store: read with the reader's `open`, `path` is relative to the chain. */
  remote?: boolean;
}

/** A listed transaction and the segment it is in. */
export type LoggedTxn = TxnSummary & { segment: string };

/**
 * The files that may hold commits inside the window: a sealed segment holds commits in
 * (startLsn, endLsn] and, per the catalog, between its first and last commit time (files the
 * catalog does not list yet are read); the open segment holds commits after its start.
 */
export async function filesForWindow(chain: string, filter: Pick<LogFilter, 'fromLsn' | 'toLsn' | 'fromTime' | 'toTime'>): Promise<LogFile[]> {
  const catalog = await loadCatalog(chain).catch(() => null);
  const times = new Map((catalog?.segments ?? []).map((s) => [s.file.replace(/\.gz$/, ''), s]));
  const files: LogFile[] = [];
  for (const s of await listSealedSegments(chain)) {
    if (meetsWindow(filter, s, times.get(s.file.replace(/\.gz$/, '')))) files.push({ path: s.path, file: s.file, startLsn: s.startLsn, partial: false });
  }
  const partial = await openSegmentFor(chain, filter);
  if (partial) files.push(partial);
  return files;
}

/** Whether a sealed segment (its LSN range; its catalog entry when listed) may hold commits inside the window. */
function meetsWindow(
  filter: Pick<LogFilter, 'fromLsn' | 'toLsn' | 'fromTime' | 'toTime'>,
  s: { startLsn: Lsn; endLsn: Lsn },
  entry: SegmentEntry | undefined,
): boolean {
  if (filter.fromLsn !== undefined && s.endLsn < filter.fromLsn) return false;
  if (filter.toLsn !== undefined && s.startLsn >= filter.toLsn) return false;
  if (entry && entry.transactions > 0) {
    if (filter.fromTime !== undefined && normalizeTime(entry.lastCommitTime) < filter.fromTime) return false;
    if (filter.toTime !== undefined && normalizeTime(entry.firstCommitTime) > filter.toTime) return false;
  }
  return true;
}

/** This host's open segment of the chain, when it may hold commits inside the window. */
async function openSegmentFor(chain: string, filter: Pick<LogFilter, 'toLsn'>): Promise<LogFile | null> {
  const partial = await findPartial(chain);
  if (!partial || (filter.toLsn !== undefined && partial.startLsn >= filter.toLsn)) return null;
  return { path: partial.path, file: partial.path.slice(chain.length + 1), startLsn: partial.startLsn, partial: true };
}

/**
 * The files of a chain whose sealed segments are in an object store (read from there by `open`):
 * the catalog's segments that meet the window, then this host's open segment when it has one.
 */
export async function filesForWindowFromCatalog(
  chain: string,
  catalog: Catalog,
  filter: Pick<LogFilter, 'fromLsn' | 'toLsn' | 'fromTime' | 'toTime'>,
): Promise<LogFile[]> {
  const files: LogFile[] = [];
  for (const entry of catalog.segments) {
    const range = { startLsn: parseLsn(entry.startLsn), endLsn: parseLsn(entry.endLsn) };
    if (meetsWindow(filter, range, entry)) files.push({ path: entry.file, file: entry.file, startLsn: range.startLsn, partial: false, remote: true });
  }
  const partial = await openSegmentFor(chain, filter);
  if (partial) files.push(partial);
  return files;
}

/** How far a scan has read (updated in place as it reads; findTransactionsWorkflow heartbeats it). */
export interface ScanProgress {
  /** Segments in the window, and those read to their end. */
  segmentsTotal: number;
  segmentsRead: number;
  /** The segment being read (relative to the chain). */
  segment: string | null;
  /** SQL bytes read (decompressed). */
  bytesRead: number;
}

/**
 * The transactions of `chain` that pass `filter`, in LSN order, as they are found: summaries are
 * handed out after each chunk read, so a day of segments is never held at once.
 */
export async function* logTransactions(
  chain: string,
  filter: LogFilter,
  limit = Infinity,
  source?: { files: LogFile[]; open(file: LogFile): Promise<Readable> },
  progress?: ScanProgress,
): AsyncGenerator<LoggedTxn> {
  let emitted = 0;
  const files = source?.files ?? (await filesForWindow(chain, filter));
  if (progress) progress.segmentsTotal = files.length;
  for (const file of files) {
    if (progress) progress.segment = file.file;
    const found: TxnSummary[] = [];
    const scan = new TxnLogFilter(filter, (t) => found.push(t));
    const raw = file.remote && source ? await source.open(file) : createReadStream(file.path, { highWaterMark: 1 << 20 });
    const stream: Readable = file.path.endsWith('.gz') ? raw.pipe(createGunzip({ chunkSize: 1 << 18 })) : raw;
    try {
      for await (const chunk of stream) {
        scan.push(chunk as Buffer);
        if (progress) progress.bytesRead += (chunk as Buffer).length;
        for (const t of found.splice(0)) {
          (t as LoggedTxn).segment = file.file;
          yield t as LoggedTxn;
          if (++emitted >= limit) return;
        }
        if (scan.pastEnd) break;
      }
    } catch (error) {
      // An open segment sealed while we read it moved away: its transactions are in the sealed file we listed... or not yet: say so.
      if (file.partial && (error as { code?: string }).code === 'ENOENT') {
        throw new Error(`${file.path}: the open segment was sealed while pgincr log read it; run the command again to read the sealed file`, { cause: error });
      }
      throw new Error(`${file.path}: cannot be read (${(error as Error).message}); if the file was moved or removed, run \`pgincr catalog rebuild\``, {
        cause: error,
      });
    } finally {
      raw.destroy();
      if (stream !== raw) stream.destroy();
    }
    scan.endSegment();
    if (progress) progress.segmentsRead++;
    if (scan.pastEnd) return;
  }
}

/** `--from-lsn` text to an LSN, naming the option in the error. */
export function lsnOption(name: string, text: string | undefined): Lsn | undefined {
  if (text === undefined) return undefined;
  try {
    return parseLsn(text);
  } catch {
    throw new Error(`${name}: ${JSON.stringify(text)} is not an LSN; write it as pg_current_wal_lsn() prints it, e.g. 0/16B3748`);
  }
}
