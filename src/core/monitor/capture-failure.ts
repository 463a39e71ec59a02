/**
 * The `capture.failing` check: a capture whose activity keeps failing without moving its durable
 * position is CRITICAL once it has done so for `captureFailingCriticalMs` (alerts.captureFailingCritical,
 * default 2 minutes), naming the last failure; a failure a retry cannot fix is CRITICAL at once.
 * Below that it is reported (OK: a short connection loss heals by itself). Pure.
 */
import { formatBytes, formatDuration } from './health-format';

/** One failing streak of the capture (the repository's monitor/capture.json). */
export interface CaptureFailureFacts {
  /** The error's name (Temporal's failure type), e.g. `SlotMissingError`, `Error`. */
  errorType: string;
  /** The first line of its message (no row values, no hint). */
  message: string;
  sqlstate?: string;
  /** A failure Temporal does not retry: the capture workflow stops. */
  nonRetryable: boolean;
  /** A lost or refused connection, a server shutting down or starting. */
  transient: boolean;
  /** First failure since the durable position last moved (ISO). */
  since: string;
  /** Latest failure (ISO). */
  lastAt: string;
  /** Failed attempts since `since`. */
  failures: number;
  /** Temporal's attempt number of the latest one. */
  attempt?: number;
  /** What was durable when it failed. */
  durableLsn?: string;
}

/** What Temporal says about the capture's pending activity (describe()): retries and their last failure. */
export interface CaptureActivityObservation {
  attempt: number;
  lastFailure?: { type: string; message: string };
}

export interface CaptureFailureFinding {
  check: 'capture.failing';
  severity: 'ok' | 'critical';
  message: string;
  value?: number;
  hint?: string;
}

/** `ErrorType: message (SQLSTATE x)`. */
export function describeCaptureFailure(f: Pick<CaptureFailureFacts, 'errorType' | 'message' | 'sqlstate'>): string {
  const state = f.sqlstate && !f.message.includes(f.sqlstate) ? ` (SQLSTATE ${f.sqlstate})` : '';
  return `${f.errorType}: ${f.message}${state}`;
}

/**
 * The finding from the failure record (`failure`: null = none recorded; undefined = not
 * observed) and, when Temporal answered, the pending activity's attempt and last failure.
 */
export function captureFailureFindings(
  failure: CaptureFailureFacts | null | undefined,
  activity: CaptureActivityObservation | undefined,
  criticalAfterMs: number,
  nowMs: number,
): CaptureFailureFinding[] {
  const attempt = activity && activity.attempt > 1 ? activity.attempt : undefined;
  if (!failure) {
    if (failure === undefined && !attempt) return [];
    if (failure === undefined && attempt && activity?.lastFailure) {
      // No record read, but Temporal retries. (With a record that says "none", the running
      // attempt has made progress: Temporal keeps the last failure until the activity ends.)
      return [
        {
          check: 'capture.failing',
          severity: 'ok',
          message: `capture activity on attempt ${attempt} after ${activity.lastFailure.type}: ${activity.lastFailure.message.split('\n')[0]}`,
        },
      ];
    }
    return [{ check: 'capture.failing', severity: 'ok', message: 'no capture failure since the last progress', value: 0 }];
  }
  const forMs = Math.max(0, nowMs - Date.parse(failure.since));
  const what = describeCaptureFailure(failure);
  const tries = `${failure.failures} failed attempt${failure.failures === 1 ? '' : 's'}${(attempt ?? failure.attempt) ? `, attempt ${attempt ?? failure.attempt}` : ''}`;
  const at = failure.durableLsn ? ` at ${failure.durableLsn}` : '';
  if (failure.nonRetryable) {
    return [
      {
        check: 'capture.failing',
        severity: 'critical',
        message: `capture stopped${at} on an error a retry cannot fix: ${what}`,
        value: Math.round(forMs / 1000),
        hint: 'the capture workflow has failed; fix what the error names (see its hint in the worker log or `pgincr capture status`), then `pgincr capture start`',
      },
    ];
  }
  if (forMs >= criticalAfterMs) {
    return [
      {
        check: 'capture.failing',
        severity: 'critical',
        message: `capture has made no progress${at} for ${formatDuration(forMs)} (${tries}): last failure ${what}`,
        value: Math.round(forMs / 1000),
        hint: failure.transient
          ? 'the source is unreachable or restarting: check that it is up and reachable from the worker'
          : 'the capture retries with backoff and fails the same way: read the worker log for this error and fix its cause',
      },
    ];
  }
  return [
    {
      check: 'capture.failing',
      severity: 'ok',
      message: `capture retrying after ${formatDuration(forMs)} (${tries}): last failure ${what}; critical after ${formatDuration(criticalAfterMs)}`,
      value: Math.round(forMs / 1000),
    },
  ];
}

/** How far a restore to "latest" reaches and what it cannot include (src/monitor/chain-reach.ts observes it). */
export interface ChainReach {
  /** The last LSN the planned segments reach (the base's when there are none). */
  lsn: string;
  /** The commit time of the last transaction they hold (the base's time when there are none). */
  commitTime: string | null;
  capture: 'running' | 'paused' | 'failing' | 'stopped' | 'unknown';
  /** One line on the capture: the workflow's status, or the failure and since when. */
  captureDetail: string;
  failure?: CaptureFailureFacts;
  /** pg_current_wal_lsn() on the source when the plan was made, and the bytes past `lsn`. */
  sourceWalLsn?: string;
  behindBytes?: number;
  /** True when the source holds changes the restore does not include, or may (capture not running, failing). */
  behind: boolean;
  /**
   * The open segment when the restore started: the end LSN of its last whole transaction, and
   * whether the capture sealed it in time (then the restore includes it). Absent: it held none.
   * `read`: not sealed, so the restore read its whole transactions up to its last COMMIT itself
   * (then `lsn` and `commitTime` above are where they end).
   */
  openSegment?: {
    lsn: string;
    sealed: boolean;
    waitedMs: number;
    reason?: string;
    read?: { transactions: number; lastEndLsn: string; lastCommitTime: string };
  };
}

/** The report's lines about it (the CLI prints them after the restore summary). */
export function describeReach(r: ChainReach): string[] {
  const lines = [`chain reaches ${r.lsn}${r.commitTime ? ` (last commit ${r.commitTime})` : ''}: this restore includes nothing after it`];
  const open = r.openSegment;
  if (open?.sealed)
    lines.push(`open segment sealed for this restore (its transactions up to ${open.lsn} included; waited ${(open.waitedMs / 1000).toFixed(1)} s)`);
  else if (open?.read) {
    lines.push(
      `open segment not sealed (${open.reason ?? 'not sealed'}): read up to its last COMMIT instead, ${open.read.transactions} whole transactions up to ${open.read.lastEndLsn} ` +
        `(last commit ${open.read.lastCommitTime}) included; nothing after that COMMIT`,
    );
  } else if (open) lines.push(`WARNING: the open segment's transactions up to ${open.lsn} are not included: ${open.reason ?? 'not sealed'}`);
  if (r.capture !== 'running') lines.push(`WARNING: ${r.captureDetail}: changes made on the source since are not in any segment yet`);
  else lines.push(r.captureDetail);
  if (r.sourceWalLsn && r.behindBytes !== undefined && r.behindBytes > 0) {
    lines.push(
      `the source's WAL was at ${r.sourceWalLsn}, ${formatBytes(r.behindBytes)} past the chain's end: transactions committed there are not in this restore` +
        (open?.sealed
          ? ' (written after the open segment was sealed for this restore, or WAL without transactions)'
          : r.capture === 'running'
            ? ' (they are in the open segment; `pgincr capture rotate` seals it)'
            : r.capture === 'paused'
              ? ' (the capture is paused: `pgincr capture resume` captures them)'
              : ''),
    );
  }
  return lines;
}
