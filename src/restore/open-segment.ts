/**
 * "Latest" means latest (issue 15): a restore without a target includes every transaction that
 * was in the open segment when it started. The restore reads how far the open segment's whole
 * transactions reach (its last COMMIT marker line), asks the running capture to seal it (the
 * rotate-request file the capture polls, as `pgincr capture rotate` does) and waits, bounded,
 * until a sealed segment ends at or after that point: sealed segments carry a footer and a body
 * checksum the plan verifies (invariant 4: whole transactions only). Without a running capture
 * nothing can seal the open segment (invariant 11: only the capture that holds the slot touches
 * it), so the restore reads its whole transactions itself instead (open-prefix.ts), and its
 * report says so.
 */
import { open } from 'node:fs/promises';
import { COMMIT_PREFIX, parseCommitLine } from '../core/segment/grammar';
import { formatLsn } from '../core/lsn';

/** Read from the end in chunks of this size until a COMMIT line is found. */
const CHUNK = 1 << 20;

/**
 * The end LSN of the last whole transaction written in a `.partial` segment (its last COMMIT
 * marker line that ends with a newline), or null when it holds none. The file may be growing:
 * only complete lines count, and a torn last line is ignored.
 */
export async function lastCommitEnd(path: string): Promise<string | null> {
  const file = await open(path, 'r');
  try {
    let end = (await file.stat()).size;
    let carry = Buffer.alloc(0);
    while (end > 0) {
      const start = Math.max(0, end - CHUNK);
      const chunk = Buffer.alloc(end - start);
      await file.read(chunk, 0, chunk.length, start);
      const text = Buffer.concat([chunk, carry]).toString('latin1');
      const lines = text.split('\n');
      // The last element is after the last newline (torn or empty); the first may be cut unless at offset 0.
      const whole = lines.slice(start === 0 ? 0 : 1, -1);
      for (let i = whole.length - 1; i >= 0; i -= 1) {
        const line = whole[i] as string;
        if (!line.startsWith(COMMIT_PREFIX)) continue;
        const commit = parseCommitLine(line);
        if (commit) return formatLsn(commit.endLsn);
      }
      carry = start === 0 ? Buffer.alloc(0) : Buffer.from(lines[0] as string, 'latin1');
      end = start;
    }
    return null;
  } finally {
    await file.close();
  }
}

/** What a restore to latest did about the open segment (in the restore report). */
export interface OpenSegmentOutcome {
  /** The end LSN of the last whole transaction in the open segment when the restore started. */
  lsn: string;
  /** True when a sealed segment reached it in time: the restore includes those transactions. */
  sealed: boolean;
  waitedMs: number;
  /** Why not, when not sealed. */
  reason?: string;
}

export interface SealWaitDeps {
  /** Writes the rotate request the running capture polls. */
  requestRotation(): Promise<void>;
  /** The end LSN of the sealed segments (catalog), or null when there are none. */
  sealedEnd(): Promise<bigint | null>;
  /** Whether the capture's slot is active (a capture is running). */
  captureRunning(): Promise<boolean>;
  heartbeat?(details: unknown): void;
  signal?: AbortSignal;
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
}

export interface SealWaitOptions {
  /** Give up after this long (the restore then goes on with what is sealed, and says so). */
  timeoutMs: number;
  /** A capture slot inactive this long means no capture will seal it. */
  inactiveGraceMs?: number;
  /** The request is written again this often (a request may race a rotation already under way). */
  rerequestMs?: number;
  pollMs?: number;
}

/** Asks the capture to seal the open segment and waits until the sealed segments reach `lsn` (bounded). */
export async function waitForSealed(lsn: bigint, deps: SealWaitDeps, options: SealWaitOptions): Promise<OpenSegmentOutcome> {
  const now = deps.now ?? (() => Date.now());
  const sleep = deps.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const { timeoutMs, inactiveGraceMs = 10_000, rerequestMs = 10_000, pollMs = 500 } = options;
  const started = now();
  const text = formatLsn(lsn);
  const done = (sealed: boolean, reason?: string): OpenSegmentOutcome => ({ lsn: text, sealed, waitedMs: now() - started, ...(reason ? { reason } : {}) });
  const reached = async () => {
    const end = await deps.sealedEnd();
    return end !== null && end >= lsn;
  };
  if (await reached()) return done(true);
  await deps.requestRotation();
  let requested = started;
  let inactiveSince: number | null = null;
  for (;;) {
    deps.signal?.throwIfAborted();
    await sleep(pollMs);
    if (await reached()) return done(true);
    const t = now();
    deps.heartbeat?.({ step: 'plan', waitingForSealedLsn: text });
    if (t - started >= timeoutMs) return done(false, `the capture did not seal the open segment within ${Math.round(timeoutMs / 1000)} s`);
    if (await deps.captureRunning()) inactiveSince = null;
    else if (inactiveSince === null) inactiveSince = t;
    else if (t - inactiveSince >= inactiveGraceMs) return done(false, 'no capture is running (its slot is inactive), so nothing seals the open segment');
    if (t - requested >= rerequestMs) {
      requested = t;
      await deps.requestRotation();
    }
  }
}
