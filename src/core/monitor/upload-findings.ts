/**
 * Upload health with an object-store repository (docs/s3-repository.md, docs/monitoring.md): the
 * upload lag — the age of the oldest transaction that is durable on the capture's disk but not
 * yet in the bucket (the slot is acknowledged only up to the bucket, so this is also how far the
 * slot's WAL reaches back) — and the uploads failing in a row. Pure: the clock is `nowMs`.
 */
import type { HealthFinding } from './health';
import { formatDuration } from './health-format';

export interface UploadObservation {
  /** Commit time of the oldest durable transaction not yet in the bucket; null when the bucket holds everything durable. */
  pendingSinceMs: number | null;
  /** Where that transaction is: `the open segment` or a sealed segment's file. */
  pendingIn?: string;
  /** Upload attempts failed in a row (0 once one succeeds). */
  failures: number;
  failingSinceMs?: number;
  lastError?: string;
}

export interface UploadThresholds {
  uploadLagWarningMs: number;
  uploadLagCriticalMs: number;
  uploadFailuresWarning: number;
  uploadFailuresCritical: number;
}

const HINT =
  'the capture keeps everything on its disk and acknowledges the slot only up to the bucket, so nothing is lost while the source keeps the WAL: ' +
  'check the bucket endpoint, the network and the worker credentials (docs/s3-repository.md); uploads resume by themselves';

export function uploadFindings(u: UploadObservation | undefined, t: UploadThresholds, nowMs: number): HealthFinding[] {
  if (!u) return [];
  const out: HealthFinding[] = [];
  const lagMs = u.pendingSinceMs === null ? 0 : Math.max(0, nowMs - u.pendingSinceMs);
  const severity = lagMs >= t.uploadLagCriticalMs ? 'critical' : lagMs >= t.uploadLagWarningMs ? 'warning' : 'ok';
  const failing = u.failures > 0 && u.lastError ? `; last upload failed: ${u.lastError}` : '';
  out.push({
    check: 'upload.lag',
    severity,
    message:
      u.pendingSinceMs === null
        ? 'upload lag 0s: the bucket holds every durable transaction'
        : `upload lag ${formatDuration(lagMs)}: the oldest transaction not yet in the bucket (in ${u.pendingIn ?? 'the open segment'}) committed ${formatDuration(lagMs)} ago` +
          (severity === 'ok' ? '' : ` (over ${formatDuration(severity === 'critical' ? t.uploadLagCriticalMs : t.uploadLagWarningMs)})${failing}`),
    value: Math.round(lagMs / 1000),
    ...(severity === 'ok' ? {} : { hint: HINT }),
  });
  const failSeverity = u.failures >= t.uploadFailuresCritical ? 'critical' : u.failures >= t.uploadFailuresWarning && u.failures > 0 ? 'warning' : 'ok';
  out.push({
    check: 'upload.failures',
    severity: failSeverity,
    message:
      u.failures === 0
        ? 'uploads succeeding'
        : `${u.failures} upload(s) failed in a row${u.failingSinceMs !== undefined ? ` since ${formatDuration(Math.max(0, nowMs - u.failingSinceMs))} ago` : ''}${u.lastError ? `: ${u.lastError}` : ''}`,
    value: u.failures,
    ...(failSeverity === 'ok' ? {} : { hint: HINT }),
  });
  return out;
}
