/**
 * The capture's upload record with an object-store repository, `<chainDir>/monitor/uploads.json`
 * on the capture's worker (monitor/ is never mirrored): the end LSN of what it last uploaded,
 * and the uploads failed in a row with the first line of the last error. Written by the capture
 * activity after each upload attempt; read by `pgincr check` on that host, which also looks at
 * the folder itself for the oldest durable transaction the bucket does not hold (upload lag).
 */
import { open, readFile } from 'node:fs/promises';
import { ensureDir, writeFileAtomic } from '../adapters/fs/atomic-write';
import { loadCatalog } from '../adapters/fs/catalog-store';
import { findPartial } from '../adapters/fs/segment-files';
import { formatLsn, parseLsn, type Lsn } from '../core/lsn';
import { timeToMs } from '../core/segment/commit-time';
import { monitorDir, uploadRecordPath } from '../core/repository/paths';
import type { UploadObservation } from '../core/monitor/upload-findings';
import { failureMessage } from './capture-failures';

export interface UploadRecord {
  version: 1;
  /** End LSN of the newest segment uploaded (the bucket holds the chain up to here). */
  uploadedThrough?: string;
  lastUploadAt?: string;
  failures: number;
  failingSince?: string;
  lastError?: string;
}

export async function loadUploadRecord(chainDir: string): Promise<UploadRecord | null> {
  try {
    const raw = JSON.parse(await readFile(uploadRecordPath(chainDir), 'utf8')) as Partial<UploadRecord>;
    if (raw.version === 1 && typeof raw.failures === 'number') return raw as UploadRecord;
  } catch {
    // none yet (not a capture's worker, or nothing uploaded yet)
  }
  return null;
}

async function save(chainDir: string, record: UploadRecord): Promise<void> {
  await ensureDir(monitorDir(chainDir));
  await writeFileAtomic(uploadRecordPath(chainDir), `${JSON.stringify(record, null, 2)}\n`);
}

/** An upload succeeded: the bucket holds the chain up to `through` (when known). */
export async function recordUploadSuccess(chainDir: string, through: Lsn | undefined, now = new Date()): Promise<void> {
  const previous = await loadUploadRecord(chainDir);
  const kept =
    previous?.uploadedThrough !== undefined && (through === undefined || parseLsn(previous.uploadedThrough) > through) ? previous.uploadedThrough : undefined;
  const end = kept ?? (through !== undefined ? formatLsn(through) : undefined);
  await save(chainDir, { version: 1, ...(end ? { uploadedThrough: end } : {}), lastUploadAt: now.toISOString(), failures: 0 });
}

/** An upload failed: counted, with when the failures began and the last error's first line. */
export async function recordUploadFailure(chainDir: string, error: unknown, now = new Date()): Promise<void> {
  const previous = await loadUploadRecord(chainDir);
  await save(chainDir, {
    version: 1,
    ...(previous?.uploadedThrough ? { uploadedThrough: previous.uploadedThrough } : {}),
    ...(previous?.lastUploadAt ? { lastUploadAt: previous.lastUploadAt } : {}),
    failures: (previous?.failures ?? 0) + 1,
    failingSince: previous?.failures ? (previous.failingSince ?? now.toISOString()) : now.toISOString(),
    lastError: failureMessage(error),
  });
}

const FIRST_BEGIN = /^BEGIN; -- xid \d+ commit_lsn \S+ committed (.+)$/m;

/** Commit time of the first transaction of a segment file (its head only); null when it holds none yet. */
async function firstCommitMs(path: string): Promise<number | null> {
  const file = await open(path, 'r');
  try {
    const { buffer, bytesRead } = await file.read(Buffer.alloc(64 * 1024), 0, 64 * 1024, 0);
    const m = FIRST_BEGIN.exec(buffer.subarray(0, bytesRead).toString('latin1'));
    return m ? timeToMs(m[1] as string) : null;
  } finally {
    await file.close();
  }
}

/**
 * What this worker's folder holds that the bucket does not (the bucket's end is the newest of
 * `bucketEnd`, read from the bucket's catalog when it answered, and the record's
 * `uploadedThrough`): the sealed segments past it, then the open segment. Undefined when this
 * is not the capture's worker (no upload record and no open segment, or the bucket holds more than
 * this worker uploaded and it has no open segment past that: the capture moved).
 */
export async function observeUploads(chainDir: string, bucketEnd: Lsn | undefined): Promise<UploadObservation | undefined> {
  const record = await loadUploadRecord(chainDir);
  const partial = await findPartial(chainDir).catch(() => null);
  if (!record && !partial) return undefined;
  const recorded = record?.uploadedThrough !== undefined ? parseLsn(record.uploadedThrough) : undefined;
  // The bucket went past what this worker uploaded and it has no open segment beyond: the capture
  // runs (or ran last) on another worker, and this record, failures included, is history.
  if (bucketEnd !== undefined && recorded !== undefined && bucketEnd > recorded && !(partial && partial.startLsn >= bucketEnd)) return undefined;
  const through = [bucketEnd, recorded].reduce<Lsn | undefined>((max, l) => (l !== undefined && (max === undefined || l > max) ? l : max), undefined) ?? 0n;
  let pending: { ms: number; where: string } | null = null;
  const older = (ms: number | null, where: string) => {
    if (ms !== null && Number.isFinite(ms) && (pending === null || ms < pending.ms)) pending = { ms, where };
  };
  const local = await loadCatalog(chainDir).catch(() => null);
  for (const s of local?.segments ?? []) if (parseLsn(s.endLsn) > through && s.transactions > 0) older(timeToMs(s.firstCommitTime), s.file);
  // An open segment starting before the bucket's end was sealed past by a capture on another worker: not pending here.
  if (partial && partial.startLsn >= through) older(await firstCommitMs(partial.path).catch(() => null), 'the open segment');
  const found = pending as { ms: number; where: string } | null;
  return {
    pendingSinceMs: found ? found.ms : null,
    ...(found ? { pendingIn: found.where } : {}),
    failures: record?.failures ?? 0,
    ...(record?.failingSince ? { failingSinceMs: Date.parse(record.failingSince) } : {}),
    ...(record?.lastError ? { lastError: record.lastError } : {}),
  };
}
