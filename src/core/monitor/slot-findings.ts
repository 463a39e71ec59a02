/**
 * Findings about the replication slot and the server's WAL retention settings. Pure.
 *
 * Lag thresholds apply to the restart lag (pg_current_wal_lsn() - restart_lsn): that is the
 * WAL the slot keeps on the source's disk. The confirmed flush lag (how far the capture is
 * behind) is reported as a value and drives the no-progress check.
 */
import type { HealthFinding, HealthObservations, HealthThresholds, Severity, SlotObservation } from './health';
import { formatBytes, formatDuration } from './health-format';

/** All slot and server findings for a reachable database. */
export function slotFindings(obs: HealthObservations, t: HealthThresholds, nowMs: number): HealthFinding[] {
  const out: HealthFinding[] = [];
  const name = obs.slotName;
  if (obs.maxSlotWalKeepSizeBytes !== undefined) out.push(keepSizeFinding(obs.maxSlotWalKeepSizeBytes));
  const slot = obs.slot;
  if (slot === undefined) return out;
  if (slot === null) {
    out.push({
      check: 'slot',
      severity: 'emergency',
      message: `replication slot ${name} does not exist: the backup chain is broken`,
    });
    return out;
  }
  out.push(walStatusFinding(slot));
  if (slot.walStatus === 'lost') return out;
  out.push(restartLagFinding(slot, t));
  if (slot.confirmedFlushLagBytes !== null) {
    out.push({
      check: 'slot.confirmed_flush_lag',
      severity: 'ok',
      message: `slot ${name} confirmed flush lag ${formatBytes(slot.confirmedFlushLagBytes)}`,
      value: slot.confirmedFlushLagBytes,
    });
  }
  const safe = safeWalFinding(slot, t);
  if (safe) out.push(safe);
  out.push(activeFinding(slot, obs.captureRunning === true && !obs.captureWorkflow?.paused));
  const progress = progressFinding(slot, obs.lastFlushProgressAtMs, t, nowMs);
  if (progress) out.push(progress);
  return out;
}

function keepSizeFinding(bytes: number): HealthFinding {
  return bytes < 0
    ? {
        check: 'server.max_slot_wal_keep_size',
        severity: 'warning',
        message: 'max_slot_wal_keep_size = -1: a stalled slot can fill the source disk with WAL',
        value: -1,
        hint: 'set max_slot_wal_keep_size (e.g. 10GB) so PostgreSQL invalidates the slot before the disk fills',
      }
    : { check: 'server.max_slot_wal_keep_size', severity: 'ok', message: `max_slot_wal_keep_size = ${formatBytes(bytes)}`, value: bytes };
}

function walStatusFinding(slot: SlotObservation): HealthFinding {
  const check = 'slot.wal_status';
  switch (slot.walStatus) {
    case 'lost':
      return {
        check,
        severity: 'emergency',
        message: `replication slot ${slot.name} is invalidated (wal_status lost): the backup chain is broken`,
      };
    case 'unreserved':
      return {
        check,
        severity: 'critical',
        message: `replication slot ${slot.name} wal_status unreserved: its WAL will be removed at the next checkpoint`,
        hint: 'the capture must catch up now, or the slot is lost at the next checkpoint',
      };
    case null:
      return { check, severity: 'warning', message: `replication slot ${slot.name} reserves no WAL (restart_lsn is null)` };
    default:
      return { check, severity: 'ok', message: `replication slot ${slot.name} wal_status ${slot.walStatus}` };
  }
}

function restartLagFinding(slot: SlotObservation, t: HealthThresholds): HealthFinding {
  const lag = slot.restartLagBytes;
  if (lag === null) return { check: 'slot.restart_lag', severity: 'warning', message: `slot ${slot.name} has no restart_lsn` };
  const levels: [Severity, number][] = [
    ['emergency', t.restartLagEmergencyBytes],
    ['critical', t.restartLagCriticalBytes],
    ['warning', t.restartLagWarningBytes],
  ];
  const hit = levels.find(([, limit]) => lag >= limit);
  const severity: Severity = hit ? hit[0] : 'ok';
  const over = hit ? ` (${hit[0]} at ${formatBytes(hit[1])})` : '';
  return {
    check: 'slot.restart_lag',
    severity,
    message: `slot ${slot.name} keeps ${formatBytes(lag)} of WAL on the source${over}`,
    value: lag,
  };
}

function safeWalFinding(slot: SlotObservation, t: HealthThresholds): HealthFinding | undefined {
  const safe = slot.safeWalSizeBytes;
  if (safe === null) return undefined;
  let severity: Severity = 'ok';
  if (safe < t.restartLagWarningBytes) severity = 'critical';
  else if (safe < t.restartLagCriticalBytes) severity = 'warning';
  return {
    check: 'slot.safe_wal_size',
    severity,
    message: `slot ${slot.name} is invalidated after ${formatBytes(Math.max(0, safe))} more WAL`,
    value: safe,
  };
}

/** `streaming`: Temporal says the capture workflow runs and is not paused. */
function activeFinding(slot: SlotObservation, streaming: boolean): HealthFinding {
  if (slot.active) {
    return { check: 'slot.active', severity: 'ok', message: `slot ${slot.name} is active (pid ${slot.activePid ?? '?'})`, value: 1 };
  }
  // Between two capture activities the slot is briefly free; it only matters when the
  // workflow claims to stream and yet nobody holds the slot (a paused capture holds none).
  return {
    check: 'slot.active',
    severity: streaming ? 'warning' : 'ok',
    message: `slot ${slot.name} is not active (no capture connected)`,
    value: 0,
  };
}

function progressFinding(slot: SlotObservation, lastAt: number | undefined, t: HealthThresholds, nowMs: number): HealthFinding | undefined {
  if (lastAt === undefined) return undefined;
  const idle = Math.max(0, nowMs - lastAt);
  const behind = (slot.confirmedFlushLagBytes ?? 0) > 0;
  const warnAt = t.noProgressWarningMs ?? t.noProgressEmergencyMs / 4;
  let severity: Severity = 'ok';
  if (behind && idle >= t.noProgressEmergencyMs) severity = 'emergency';
  else if (behind && idle >= warnAt) severity = 'warning';
  const limit = severity === 'emergency' ? t.noProgressEmergencyMs : warnAt;
  return {
    check: 'slot.progress',
    severity,
    message:
      `slot ${slot.name} confirmed flush last moved ${formatDuration(idle)} ago` +
      (severity === 'ok' ? '' : ` while ${formatBytes(slot.confirmedFlushLagBytes ?? 0)} behind (${severity} at ${formatDuration(limit)})`),
    value: Math.round(idle / 1000),
  };
}
