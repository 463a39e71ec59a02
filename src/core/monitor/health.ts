/**
 * Health evaluation: observations (slot stats, repository facts, capture state) and thresholds
 * in, a report out. Pure: the clock is the `nowMs` parameter, and nothing here does I/O.
 *
 * Severities, from best to worst: ok < warning < unknown < critical < emergency. The report's
 * status is the worst finding; the Nagios exit code is OK 0, WARNING 1, CRITICAL 2 (critical and
 * emergency), UNKNOWN 3. "Emergency" means the slot threatens the source server (WAL piling up
 * on its disk) or the backup chain is already broken; every emergency finding carries the
 * emergency procedure hint (docs/monitoring.md).
 *
 * Byte counts are JS numbers (exact up to 8 PiB) and LSNs are text, so a report is plain JSON
 * and can travel as a Temporal payload.
 */
import { fullIdentityWarning, type FullIdentityTable } from '../preflight/checks';
import { formatBytes, formatDuration } from './health-format';
import { slotFindings } from './slot-findings';
import { captureFailureFindings, type CaptureActivityObservation, type CaptureFailureFacts } from './capture-failure';
import { uploadFindings, type UploadObservation, type UploadThresholds } from './upload-findings';

export { formatHuman, formatNagios, formatBytes, formatDuration } from './health-format';

export type Severity = 'ok' | 'warning' | 'unknown' | 'critical' | 'emergency';

/** PostgreSQL's pg_replication_slots.wal_status (NULL for a slot that never reserved WAL). */
export type WalStatus = 'reserved' | 'extended' | 'unreserved' | 'lost';

export interface SlotObservation {
  name: string;
  plugin: string | null;
  database: string | null;
  active: boolean;
  activePid: number | null;
  walStatus: WalStatus | null;
  /** Bytes of WAL that can still be written before the slot is at risk; null when unlimited. */
  safeWalSizeBytes: number | null;
  currentLsn: string;
  restartLsn: string | null;
  confirmedFlushLsn: string | null;
  /** pg_current_wal_lsn() - restart_lsn: the WAL this slot keeps on the source's disk. */
  restartLagBytes: number | null;
  /** pg_current_wal_lsn() - confirmed_flush_lsn: how far the capture is behind. */
  confirmedFlushLagBytes: number | null;
}

export interface HealthObservations {
  slotName: string;
  /** Whether the source answered; when it did not, the slot facts are absent. */
  database: { reachable: true } | { reachable: false; error: string };
  /** undefined: not observed (database down); null: the slot does not exist. */
  slot?: SlotObservation | null;
  /** SHOW max_slot_wal_keep_size in bytes; -1 = unlimited. */
  maxSlotWalKeepSizeBytes?: number;
  /** When confirmed_flush_lsn was last seen moving (tracked by the caller in a state file). */
  lastFlushProgressAtMs?: number;
  /** Catalog facts; undefined when the catalog could not be read (see catalogError). */
  catalog?: {
    lastSegmentAtMs: number | null;
    lastBaseAtMs: number | null;
    lastVerify: { atMs: number; ok: boolean; detail?: string } | null;
  };
  catalogError?: string;
  repositoryDisk?: { usedPercent: number; totalBytes: number; freeBytes: number } | { error: string };
  /** Captured tables with REPLICA IDENTITY FULL although they have a key; undefined = not observed. */
  fullIdentityWithKey?: FullIdentityTable[];
  /** true/false from Temporal; 'unknown' when asked but Temporal could not say; undefined = not asked. */
  captureRunning?: boolean | 'unknown';
  /**
   * What Temporal said about the capture workflow: its id, and its status or why it could not say;
   * `paused`: RUNNING, but paused by `pgincr capture pause` (its memo), so it streams nothing.
   */
  captureWorkflow?: { id: string; status?: string; error?: string; paused?: boolean };
  /** The capture's failure record (the repository's monitor/capture.json): null = none; undefined = not read. */
  captureFailure?: CaptureFailureFacts | null;
  /** Temporal's view of the capture's pending activity (attempt, last failure), when asked and running. */
  captureActivity?: CaptureActivityObservation;
  /** With an object store, on the capture's host: what is durable there and not yet in the bucket, failed uploads. */
  upload?: UploadObservation;
  /** Two repositories: how the object-store copy differs from the local repository; undefined = one repository. */
  repositoryCopy?: { copy: string; onlyLocal: string[]; onlyInCopy: string[]; different: string[] } | { copy: string; error: string };
}

export interface HealthThresholds {
  restartLagWarningBytes: number;
  restartLagCriticalBytes: number;
  restartLagEmergencyBytes: number;
  /** Confirmed flush not moving (while behind) for this long is an emergency. */
  noProgressEmergencyMs: number;
  /** Warning level for no progress; defaults to a quarter of the emergency level. */
  noProgressWarningMs?: number;
  repositoryDiskWarningPercent: number;
  /** The last full backup may be at most this old (e.g. twice the schedule's interval). */
  maxBaseAgeMs?: number;
  /** Warn when the newest sealed segment is older than this while the capture is behind. */
  segmentAgeWarningMs?: number;
  /** A capture failing without progress for this long is critical (default 2 minutes). */
  captureFailingCriticalMs?: number;
  /** Upload lag and failed uploads with an object store (defaults 5m / 15m, 1 / 5). */
  upload?: UploadThresholds;
}

export interface HealthFinding {
  check: string;
  severity: Severity;
  message: string;
  /** The measured value, for perfdata and metrics (bytes, seconds, percent). */
  value?: number;
  /** What to do; always present on emergency findings. */
  hint?: string;
}

export interface HealthReport {
  status: Severity;
  exitCode: 0 | 1 | 2 | 3;
  checkedAt: string;
  slotName: string;
  findings: HealthFinding[];
  observations: HealthObservations;
  thresholds: HealthThresholds;
}

const RANK: Record<Severity, number> = { ok: 0, warning: 1, unknown: 2, critical: 3, emergency: 4 };
const EXIT: Record<Severity, 0 | 1 | 2 | 3> = { ok: 0, warning: 1, unknown: 3, critical: 2, emergency: 2 };

/** The worse of two severities. */
export function worse(a: Severity, b: Severity): Severity {
  return RANK[b] > RANK[a] ? b : a;
}

/** Nagios exit code of a severity: ok 0, warning 1, critical/emergency 2, unknown 3. */
export function exitCodeFor(severity: Severity): 0 | 1 | 2 | 3 {
  return EXIT[severity];
}

/** The hint attached to every emergency finding. */
export function emergencyHint(slot: string): string {
  return (
    'EMERGENCY PROCEDURE (docs/monitoring.md): check the source disk (pg_wal) and why the capture is not ' +
    `confirming; if the source is at risk, free it with \`pgincr slot drop ${slot} --confirm ${slot}\` (the backup chain ` +
    'breaks), then start a new chain with `pgincr setup --new-chain`'
  );
}

const DEFAULT_UPLOAD_THRESHOLDS: UploadThresholds = {
  uploadLagWarningMs: 5 * 60_000,
  uploadLagCriticalMs: 15 * 60_000,
  uploadFailuresWarning: 1,
  uploadFailuresCritical: 5,
};

/** Evaluates every check; the report's status is the worst finding's severity. */
export function evaluateHealth(obs: HealthObservations, thresholds: HealthThresholds, nowMs: number): HealthReport {
  const findings: HealthFinding[] = [];
  if (!obs.database.reachable) {
    findings.push({ check: 'database', severity: 'unknown', message: `cannot query the source database: ${obs.database.error}` });
  } else {
    findings.push(...slotFindings(obs, thresholds, nowMs));
    findings.push(...identityFindings(obs));
  }
  findings.push(...captureFindings(obs));
  findings.push(...captureFailureFindings(obs.captureFailure, obs.captureActivity, thresholds.captureFailingCriticalMs ?? 120_000, nowMs));
  findings.push(...catalogFindings(obs, thresholds, nowMs));
  findings.push(...uploadFindings(obs.upload, thresholds.upload ?? DEFAULT_UPLOAD_THRESHOLDS, nowMs));
  findings.push(...diskFindings(obs, thresholds));
  findings.push(...copyFindings(obs));
  for (const f of findings) if (f.severity === 'emergency' && !f.hint) f.hint = emergencyHint(obs.slotName);
  const status = findings.reduce<Severity>((s, f) => worse(s, f.severity), 'ok');
  return {
    status,
    exitCode: exitCodeFor(status),
    checkedAt: new Date(nowMs).toISOString(),
    slotName: obs.slotName,
    findings,
    observations: obs,
    thresholds,
  };
}

function identityFindings(obs: HealthObservations): HealthFinding[] {
  if (!obs.fullIdentityWithKey) return [];
  const full = fullIdentityWarning(obs.fullIdentityWithKey);
  return [
    full
      ? { check: 'replica identity', severity: 'warning', message: full.message, hint: full.hint, value: obs.fullIdentityWithKey.length }
      : { check: 'replica identity', severity: 'ok', message: 'no table is REPLICA IDENTITY FULL while it has a key', value: 0 },
  ];
}

function captureFindings(obs: HealthObservations): HealthFinding[] {
  if (obs.captureRunning === undefined) return [];
  const wf = obs.captureWorkflow;
  const id = wf ? ` ${wf.id}` : '';
  if (obs.captureRunning === 'unknown') {
    // Informational: `pgincr check` works without Temporal; the slot checks cover a stalled capture.
    return [
      {
        check: 'capture',
        severity: 'ok',
        message: `capture workflow${id} not checked: Temporal not reachable${wf?.error ? ` (${wf.error})` : ''}`,
      },
    ];
  }
  if (obs.captureRunning && wf?.paused) {
    // An operator's pause, not a failure: but nothing is backed up meanwhile and the slot keeps WAL.
    return [
      {
        check: 'capture',
        severity: 'warning',
        message: `capture workflow${id} is paused: nothing is captured and the slot keeps WAL on the source until it resumes`,
        hint: 'resume it with `pgincr capture resume`',
      },
    ];
  }
  return obs.captureRunning
    ? [{ check: 'capture', severity: 'ok', message: `capture workflow${id} is running` }]
    : [
        {
          check: 'capture',
          severity: 'critical',
          message: `capture workflow${id} is not running${wf?.status ? ` (${wf.status})` : ''}: the slot keeps WAL on the source until it resumes`,
          hint: 'start it with `pgincr capture start`; if it failed on a lost or missing slot, run `pgincr setup --new-chain`',
        },
      ];
}

function catalogFindings(obs: HealthObservations, t: HealthThresholds, nowMs: number): HealthFinding[] {
  if (!obs.catalog) {
    return obs.catalogError ? [{ check: 'catalog', severity: 'warning', message: `cannot read the catalog: ${obs.catalogError}` }] : [];
  }
  const out: HealthFinding[] = [];
  const { lastSegmentAtMs, lastBaseAtMs, lastVerify } = obs.catalog;
  if (lastSegmentAtMs !== null) {
    const age = Math.max(0, nowMs - lastSegmentAtMs);
    const behind = (obs.slot?.confirmedFlushLagBytes ?? 0) > 0;
    const stale = t.segmentAgeWarningMs !== undefined && age > t.segmentAgeWarningMs && behind;
    out.push({
      check: 'segments.age',
      severity: stale ? 'warning' : 'ok',
      message: `last sealed segment ${formatDuration(age)} ago${stale ? ` (over ${formatDuration(t.segmentAgeWarningMs!)} while the capture is behind)` : ''}`,
      value: Math.round(age / 1000),
    });
  } else {
    out.push({ check: 'segments.age', severity: 'ok', message: 'no sealed segment yet' });
  }
  out.push(baseFinding(lastBaseAtMs, t, nowMs));
  if (lastVerify) {
    out.push(
      lastVerify.ok
        ? { check: 'verify', severity: 'ok', message: `last verification passed ${formatDuration(nowMs - lastVerify.atMs)} ago`, value: 1 }
        : {
            check: 'verify',
            severity: 'critical',
            message: `last verification failed ${formatDuration(nowMs - lastVerify.atMs)} ago${lastVerify.detail ? `: ${lastVerify.detail}` : ''}`,
            value: 0,
            hint: 'see `pgincr list` and the verification report; run `pgincr verify` again after fixing',
          },
    );
  }
  return out;
}

function baseFinding(lastBaseAtMs: number | null, t: HealthThresholds, nowMs: number): HealthFinding {
  if (lastBaseAtMs === null) {
    return { check: 'backup.full', severity: 'critical', message: 'no full backup in the catalog', hint: 'run `pgincr backup full` or `pgincr setup`' };
  }
  const age = Math.max(0, nowMs - lastBaseAtMs);
  const old = t.maxBaseAgeMs !== undefined && age > t.maxBaseAgeMs;
  return {
    check: 'backup.full',
    severity: old ? 'warning' : 'ok',
    message: `last full backup ${formatDuration(age)} ago${old ? ` (older than the allowed ${formatDuration(t.maxBaseAgeMs!)})` : ''}`,
    value: Math.round(age / 1000),
    ...(old ? { hint: 'check the fullBackup schedule (`pgincr schedules list`) or run `pgincr backup full`' } : {}),
  };
}

const MiB = 1024 * 1024;

/** A few names and how many more. */
function sample(files: string[]): string {
  return `${files.slice(0, 3).join(', ')}${files.length > 3 ? ` and ${files.length - 3} more` : ''}`;
}

/** Two repositories: the copy must hold what the local repository holds, file for file. */
function copyFindings(obs: HealthObservations): HealthFinding[] {
  const copy = obs.repositoryCopy;
  if (!copy) return [];
  if ('error' in copy) return [{ check: 'repository.copy', severity: 'warning', message: `cannot compare the repository copy ${copy.copy}: ${copy.error}` }];
  const parts = [
    copy.onlyLocal.length ? `${copy.onlyLocal.length} file(s) only in the local repository (${sample(copy.onlyLocal)})` : '',
    copy.onlyInCopy.length ? `${copy.onlyInCopy.length} file(s) only in the copy (${sample(copy.onlyInCopy)})` : '',
    copy.different.length ? `${copy.different.length} file(s) of another size in each (${sample(copy.different)})` : '',
  ].filter(Boolean);
  if (!parts.length) return [{ check: 'repository.copy', severity: 'ok', message: `the copy ${copy.copy} holds the same files as the local repository` }];
  return [
    {
      check: 'repository.copy',
      severity: 'warning',
      message: `the repository copy ${copy.copy} diverges from the local repository: ${parts.join('; ')}`,
      value: copy.onlyLocal.length + copy.onlyInCopy.length + copy.different.length,
      hint: 'a restore takes each file from whichever repository has it; the next capture start or backup uploads what the copy lacks, `pgincr catalog rebuild` downloads what the local repository lacks; a file of another size in each needs a look (which one is damaged?)',
    },
  ];
}

function diskFindings(obs: HealthObservations, t: HealthThresholds): HealthFinding[] {
  const disk = obs.repositoryDisk;
  if (!disk) return [];
  if ('error' in disk) return [{ check: 'repository.disk', severity: 'unknown', message: `cannot stat the repository: ${disk.error}` }];
  // Out of space: the capture's next write (it buffers up to 1 MiB) fails with ENOSPC and it stops
  // acknowledging (invariant 2); its failure record may not fit on the disk either, so say it here.
  if (disk.freeBytes < Math.min(MiB, disk.totalBytes / 100)) {
    return [
      {
        check: 'repository.disk',
        severity: 'critical',
        message: `repository disk full (ENOSPC): ${formatBytes(disk.freeBytes)} free of ${formatBytes(disk.totalBytes)}; the capture cannot write segments and stops acknowledging, the slot keeps WAL on the source`,
        value: Math.round(disk.usedPercent * 10) / 10,
        hint: 'free space in the repository (or grow its file system); the capture resumes by itself, nothing is lost while the slot holds the WAL',
      },
    ];
  }
  const full = disk.usedPercent > t.repositoryDiskWarningPercent;
  return [
    {
      check: 'repository.disk',
      severity: full ? 'warning' : 'ok',
      message: `repository disk ${disk.usedPercent.toFixed(1)}% used, ${formatBytes(disk.freeBytes)} free${full ? ` (over ${t.repositoryDiskWarningPercent}%)` : ''}`,
      value: Math.round(disk.usedPercent * 10) / 10,
    },
  ];
}
