/**
 * Feeding the process's metrics from the activities: the capture's heartbeats (counters move by
 * the difference to the previous heartbeat of the same run, so retried runs never double
 * count), the restore's progress, and full backup / verification timestamps.
 */
import type { HeartbeatDetails } from '../capture/capture-types';
import { parseLsn } from '../core/lsn';
import { lsnGaugeValue, type PgincrMetrics } from './metrics';

export interface CaptureRecorder {
  /** A heartbeat of the running capture (cumulative for this run). */
  heartbeat(details: HeartbeatDetails): void;
  /** The run's result: the last counters, and the row changes (not in heartbeats). */
  finished(result: { lastDurableLsn: string; transactions: number; bytes: number; changes: number }): void;
  /** A failed attempt: counted by the error's type (its name). */
  failed(errorType: string): void;
}

/** Records one capture run for `slot`; a no-op without metrics. */
export function captureRecorder(metrics: PgincrMetrics | undefined, slot: string): CaptureRecorder {
  let txns = 0;
  let bytes = 0;
  const advance = (lsn: string, t: number, b: number) => {
    if (!metrics) return;
    if (lsn) {
      metrics.captureLsn.set({ slot }, lsnGaugeValue(lsn));
      const seen = metrics.captureDurable.get(slot);
      const at = parseLsn(lsn);
      if (!seen || at > seen.lsn) metrics.captureDurable.set(slot, { lsn: at, atMs: Date.now() });
    }
    if (t > txns) metrics.captureTransactionsTotal.inc({ slot }, t - txns);
    if (b > bytes) metrics.captureBytesTotal.inc({ slot }, b - bytes);
    txns = Math.max(txns, t);
    bytes = Math.max(bytes, b);
  };
  return {
    heartbeat: (d) => advance(d.lastDurableLsn, d.txns, d.bytes),
    finished: (r) => {
      advance(r.lastDurableLsn, r.transactions, r.bytes);
      if (metrics && r.changes > 0) metrics.captureChangesTotal.inc({ slot }, r.changes);
    },
    failed: (errorType) => metrics?.captureFailuresTotal.inc({ slot, error_type: errorType }),
  };
}

/** A restore's progress into `targetDb`. */
export function recordRestoreProgress(
  metrics: PgincrMetrics | undefined,
  targetDb: string,
  p: { appliedTransactions: number; lastEndLsn: string | null },
): void {
  if (!metrics) return;
  metrics.restoreProgressTransactions.set({ restore: targetDb }, p.appliedTransactions);
  if (p.lastEndLsn) metrics.restoreProgressLsn.set({ restore: targetDb }, lsnGaugeValue(p.lastEndLsn));
}

/** A full backup just taken (also set by every health check from the catalog). */
export function recordFullBackup(metrics: PgincrMetrics | undefined, slot: string, atMs = Date.now()): void {
  metrics?.lastFullBackupTimestampSeconds.set({ slot }, atMs / 1000);
}

/** A verification just recorded. */
export function recordVerification(metrics: PgincrMetrics | undefined, slot: string, ok: boolean, atMs = Date.now()): void {
  if (!metrics) return;
  metrics.lastVerifyTimestampSeconds.set({ slot }, atMs / 1000);
  metrics.lastVerifyOk.set({ slot }, Number(ok));
}
