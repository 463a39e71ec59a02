/**
 * Renders a health report for Nagios (first line `PGINCR <STATUS> - summary | perfdata`, then
 * one line per problem) and for people. Pure.
 *
 * Nagios knows four states, so an emergency is printed as `CRITICAL` (exit 2) with the summary
 * starting `EMERGENCY:`; scripts that grep the status word keep working.
 */
import type { HealthFinding, HealthReport, Severity } from './health';

const LABEL: Record<Severity, string> = {
  ok: 'OK',
  warning: 'WARNING',
  unknown: 'UNKNOWN',
  critical: 'CRITICAL',
  emergency: 'EMERGENCY',
};
const NAGIOS_LABEL: Record<Severity, string> = { ...LABEL, emergency: 'CRITICAL' };
const RANK: Record<Severity, number> = { ok: 0, warning: 1, unknown: 2, critical: 3, emergency: 4 };

/** Bytes in binary units with one decimal: `0 B`, `512 B`, `1.5 KiB`, `10.0 GiB`. */
export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let value = Math.abs(bytes);
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  const sign = bytes < 0 ? '-' : '';
  return unit === 0 ? `${sign}${value} B` : `${sign}${value.toFixed(1)} ${units[unit]}`;
}

/** A duration as its two largest units: `42s`, `5m 3s`, `26h 0m`, `3d 4h`. */
export function formatDuration(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${s % 60}s`;
  if (s < 172800) return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
  return `${Math.floor(s / 86400)}d ${Math.floor((s % 86400) / 3600)}h`;
}

function problems(report: HealthReport): HealthFinding[] {
  return report.findings.filter((f) => f.severity !== 'ok').sort((a, b) => RANK[b.severity] - RANK[a.severity]);
}

function summary(report: HealthReport): string {
  const bad = problems(report);
  if (bad.length === 0) {
    const lag = report.observations.slot?.restartLagBytes;
    return `slot ${report.slotName} healthy${lag !== undefined && lag !== null ? `, restart lag ${formatBytes(lag)}` : ''}`;
  }
  const text = bad.map((f) => f.message).join('; ');
  return report.status === 'emergency' ? `EMERGENCY: ${text}` : text;
}

function perfValue(f: HealthFinding | undefined): number | undefined {
  return f?.value;
}

/** Nagios performance data: `label=value[UOM];warn;crit;min;max`, space separated. */
export function perfdata(report: HealthReport): string {
  const t = report.thresholds;
  const find = (check: string) => report.findings.find((f) => f.check === check);
  const items: string[] = [];
  const add = (label: string, value: number | undefined, uom: string, rest = '') => {
    if (value !== undefined) items.push(`${label}=${value}${uom}${rest}`);
  };
  add('restart_lag', perfValue(find('slot.restart_lag')), 'B', `;${t.restartLagWarningBytes};${t.restartLagCriticalBytes};0`);
  add('confirmed_flush_lag', perfValue(find('slot.confirmed_flush_lag')), 'B', ';;;0');
  add('safe_wal_size', perfValue(find('slot.safe_wal_size')), 'B');
  add('no_progress', perfValue(find('slot.progress')), 's', `;;${Math.round(t.noProgressEmergencyMs / 1000)};0`);
  add('segment_age', perfValue(find('segments.age')), 's', ';;;0');
  add('full_backup_age', perfValue(find('backup.full')), 's', t.maxBaseAgeMs !== undefined ? `;${Math.round(t.maxBaseAgeMs / 1000)};;0` : ';;;0');
  add('repository_disk', perfValue(find('repository.disk')), '%', `;${t.repositoryDiskWarningPercent};;0;100`);
  const u = t.upload;
  add(
    'upload_lag',
    perfValue(find('upload.lag')),
    's',
    u ? `;${Math.round(u.uploadLagWarningMs / 1000)};${Math.round(u.uploadLagCriticalMs / 1000)};0` : ';;;0',
  );
  add('upload_failures', perfValue(find('upload.failures')), '', u ? `;${u.uploadFailuresWarning};${u.uploadFailuresCritical};0` : ';;;0');
  return items.join(' ');
}

const oneLine = (text: string) => text.replace(/\s*\n\s*/g, ' ');

/**
 * Nagios plugin output: the status line, then each problem worst first with its hint.
 * The exit code is `report.exitCode`.
 */
export function formatNagios(report: HealthReport): string[] {
  const perf = perfdata(report);
  // One line, and no `|` before the perfdata: a message may quote an error with line breaks (an S3 error's hint).
  const first = `PGINCR ${NAGIOS_LABEL[report.status]} - ${oneLine(summary(report)).replace(/\|/g, '/')}${perf ? ` | ${perf}` : ''}`;
  const lines = [first];
  const hinted = new Set<string>();
  for (const f of problems(report)) {
    lines.push(`${LABEL[f.severity]} ${f.check}: ${oneLine(f.message)}`);
    // the emergency procedure hint is the same on every emergency finding: print it once
    if (f.hint && !hinted.has(f.hint)) lines.push(`  hint: ${f.hint}`);
    if (f.hint) hinted.add(f.hint);
  }
  return lines;
}

/** A table for people: every check, its severity and message, hints under the problems. */
export function formatHuman(report: HealthReport): string[] {
  const lines = [`pgincr check: ${LABEL[report.status]} (exit ${report.exitCode})  slot ${report.slotName}  at ${report.checkedAt}`];
  const width = Math.max(...report.findings.map((f) => f.check.length), 5);
  for (const f of report.findings) {
    lines.push(`  ${LABEL[f.severity].padEnd(9)} ${f.check.padEnd(width)}  ${f.message}`);
    if (f.hint) lines.push(`  ${' '.repeat(9)} ${' '.repeat(width)}  hint: ${f.hint}`);
  }
  return lines;
}
