/**
 * The capture's failure record, `<chainDir>/monitor/capture.json`, written by the capture
 * activity and read by `pgincr check`, the health check schedule, `capture status` and a
 * restore to "latest", none of which needs Temporal for it:
 * `{ "version": 1, "slots": { "<slot>": { "failure": {…} | null, "recoveredAt"?: "<ISO>" } } }`.
 * A failure names the error's type, its first line (no row values: pgincr's messages name
 * tables, LSNs and files) and SQLSTATE, when the failures began (`since`: the first failure
 * after the durable position last moved), the latest, and how many. It is cleared by the first
 * heartbeat whose durable LSN is past the failure's. One writer per slot (the capture); the
 * file is written atomically like every repository file.
 */
import { readFile } from 'node:fs/promises';
import { captureRecordPath, monitorDir } from '../core/repository/paths';

export { captureRecordPath };
import { ensureDir, writeFileAtomic } from '../adapters/fs/atomic-write';
import { classifyFailure } from '../core/error-types';
import { parseLsn } from '../core/lsn';
import type { CaptureFailureFacts } from '../core/monitor/capture-failure';

export interface CaptureSlotRecord {
  failure: CaptureFailureFacts | null;
  recoveredAt?: string;
}

export interface CaptureRecordFile {
  version: 1;
  slots: Record<string, CaptureSlotRecord>;
}

/** Reads the record; missing or unreadable is "no failure known". */
export async function loadCaptureRecord(chainDir: string): Promise<CaptureRecordFile> {
  try {
    const raw = JSON.parse(await readFile(captureRecordPath(chainDir), 'utf8')) as Partial<CaptureRecordFile>;
    if (raw.version === 1 && raw.slots && typeof raw.slots === 'object') return { version: 1, slots: raw.slots };
  } catch {
    // no record: nothing failed yet (or the file was removed)
  }
  return { version: 1, slots: {} };
}

/** The slot's current failure, or null. */
export async function loadCaptureFailure(chainDir: string, slot: string): Promise<CaptureFailureFacts | null> {
  return (await loadCaptureRecord(chainDir)).slots[slot]?.failure ?? null;
}

async function saveSlot(chainDir: string, slot: string, record: CaptureSlotRecord): Promise<void> {
  const file = await loadCaptureRecord(chainDir);
  await ensureDir(monitorDir(chainDir));
  await writeFileAtomic(captureRecordPath(chainDir), `${JSON.stringify({ version: 1, slots: { ...file.slots, [slot]: record } }, null, 2)}\n`);
}

/** The first line of the message, at most 300 characters (hints and details stay in the log). */
export function failureMessage(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  const line = text.split('\n')[0] ?? '';
  return line.length > 300 ? `${line.slice(0, 299)}…` : line;
}

/** The SQLSTATE of the error or its causes, when there is one. */
function sqlstateOf(error: unknown, depth = 0): string | undefined {
  if (error === null || typeof error !== 'object' || depth > 5) return undefined;
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code)) return code;
  return sqlstateOf((error as { cause?: unknown }).cause, depth + 1);
}

/** Facts about one failed attempt, for the record and the metrics. */
export function describeFailure(error: unknown): Pick<CaptureFailureFacts, 'errorType' | 'message' | 'sqlstate' | 'nonRetryable' | 'transient'> {
  const kind = classifyFailure(error);
  const errorType = error instanceof Error ? error.name || 'Error' : typeof error;
  const sqlstate = sqlstateOf(error);
  return { errorType, message: failureMessage(error), ...(sqlstate ? { sqlstate } : {}), nonRetryable: kind === 'permanent', transient: kind === 'transient' };
}

/**
 * Records a failed capture attempt. `durableLsn` is what was durable when it failed; the
 * failures' start (`since`) is kept while the durable position has not moved past the previous
 * failure's, so a capture failing at the same transaction again and again counts as stuck.
 */
export async function recordCaptureFailure(
  chainDir: string,
  slot: string,
  error: unknown,
  opts: { durableLsn?: string; attempt?: number; nowMs?: number },
): Promise<CaptureFailureFacts> {
  const now = new Date(opts.nowMs ?? Date.now()).toISOString();
  const previous = (await loadCaptureRecord(chainDir)).slots[slot]?.failure ?? null;
  const moved = previous?.durableLsn && opts.durableLsn ? parseLsn(opts.durableLsn) > parseLsn(previous.durableLsn) : false;
  const continues = previous !== null && !moved;
  const failure: CaptureFailureFacts = {
    ...describeFailure(error),
    since: continues ? previous.since : now,
    lastAt: now,
    failures: continues ? previous.failures + 1 : 1,
    ...(opts.attempt !== undefined ? { attempt: opts.attempt } : {}),
    ...(opts.durableLsn ? { durableLsn: opts.durableLsn } : continues && previous.durableLsn ? { durableLsn: previous.durableLsn } : {}),
  };
  await saveSlot(chainDir, slot, { failure });
  return failure;
}

/** Clears the failure (the capture made durable progress); returns the one cleared, if any. */
export async function clearCaptureFailure(chainDir: string, slot: string, nowMs = Date.now()): Promise<CaptureFailureFacts | null> {
  const previous = (await loadCaptureRecord(chainDir)).slots[slot]?.failure ?? null;
  if (!previous) return null;
  await saveSlot(chainDir, slot, { failure: null, recoveredAt: new Date(nowMs).toISOString() });
  return previous;
}

/**
 * A failed attempt the catch path could not record: attempt N > 1 runs, so attempt N-1 failed,
 * but the record does not hold it (Temporal timed it out: the worker died, or hung past the
 * heartbeat timeout). Returns the error to record at the start of attempt N, or null.
 */
export function unrecordedFailure(attempt: number, recorded: CaptureFailureFacts | null): Error | null {
  if (attempt <= 1 || recorded?.attempt === attempt - 1) return null;
  const error = new Error(`capture attempt ${attempt - 1} ended without reporting a result (heartbeat timeout: its worker died or hung)`);
  error.name = 'ActivityTimeout';
  return error;
}
