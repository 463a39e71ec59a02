/**
 * Prometheus metrics: one registry per process, gauges fed by the health check
 * (`updateFromHealth`), counters fed by the capture and restore activities, served on
 * `GET /metrics` by `startMetricsServer`. LSNs are exported as their byte position (a float:
 * exact up to 8 PiB of WAL, plenty for graphs and rates).
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Counter, Gauge, Registry } from 'prom-client';
import type { HealthReport, Severity } from '../core/monitor/health';
import { parseLsn } from '../core/lsn';

export interface PgincrMetrics {
  registry: Registry;
  slotRestartLagBytes: Gauge<'slot'>;
  slotConfirmedFlushLagBytes: Gauge<'slot'>;
  slotSafeWalSizeBytes: Gauge<'slot'>;
  slotActive: Gauge<'slot'>;
  /** 1 for the slot's current wal_status (or `missing`), 0 for the others. */
  slotWalStatus: Gauge<'slot' | 'wal_status'>;
  /** 0 ok, 1 warning, 2 unknown, 3 critical, 4 emergency. */
  healthSeverity: Gauge<'slot'>;
  captureLsn: Gauge<'slot'>;
  captureTransactionsTotal: Counter<'slot'>;
  captureChangesTotal: Counter<'slot'>;
  captureBytesTotal: Counter<'slot'>;
  segmentAgeSeconds: Gauge<'slot'>;
  lastFullBackupTimestampSeconds: Gauge<'slot'>;
  lastVerifyTimestampSeconds: Gauge<'slot'>;
  lastVerifyOk: Gauge<'slot'>;
  /** With an object store, on the capture's worker: age of the oldest durable transaction not yet in the bucket. */
  uploadLagSeconds: Gauge<'slot'>;
  /** With an object store, on the capture's worker: uploads failed in a row. */
  uploadFailures: Gauge<'slot'>;
  restoreProgressLsn: Gauge<'restore'>;
  restoreProgressTransactions: Gauge<'restore'>;
  /** Failed capture attempts by the error's name (its Temporal failure type). */
  captureFailuresTotal: Counter<'slot' | 'error_type'>;
  /** Seconds since the capture's durable LSN last moved, computed at each scrape from `captureDurable`. */
  captureSecondsSinceDurableCommit: Gauge<'slot'>;
  /** Per slot: the newest durable LSN this process saw and when it first saw it. */
  captureDurable: Map<string, { lsn: bigint; atMs: number }>;
}

const WAL_STATUSES = ['reserved', 'extended', 'unreserved', 'lost', 'missing'] as const;
const SEVERITY_VALUE: Record<Severity, number> = { ok: 0, warning: 1, unknown: 2, critical: 3, emergency: 4 };

/** Creates the pgincr metrics in `registry` (a fresh one by default, so tests do not collide). */
export function createMetrics(registry: Registry = new Registry()): PgincrMetrics {
  const gauge = <L extends string>(name: string, help: string, labelNames: readonly L[]) => new Gauge<L>({ name, help, labelNames, registers: [registry] });
  const counter = (name: string, help: string) => new Counter<'slot'>({ name, help, labelNames: ['slot'], registers: [registry] });
  const captureDurable = new Map<string, { lsn: bigint; atMs: number }>();
  return {
    registry,
    captureFailuresTotal: new Counter<'slot' | 'error_type'>({
      name: 'pgincr_capture_failures_total',
      help: "Failed capture activity attempts, by the error's type",
      labelNames: ['slot', 'error_type'],
      registers: [registry],
    }),
    captureDurable,
    captureSecondsSinceDurableCommit: new Gauge<'slot'>({
      name: 'pgincr_capture_seconds_since_durable_commit',
      help: 'Seconds since the capture last made a position durable (its durable LSN moved), as seen by this worker',
      labelNames: ['slot'],
      registers: [registry],
      collect() {
        const now = Date.now();
        for (const [slot, { atMs }] of captureDurable) this.set({ slot }, Math.max(0, (now - atMs) / 1000));
      },
    }),
    slotRestartLagBytes: gauge('pgincr_slot_restart_lag_bytes', 'WAL the slot keeps on the source: current LSN - restart_lsn', ['slot']),
    slotConfirmedFlushLagBytes: gauge('pgincr_slot_confirmed_flush_lag_bytes', 'How far the capture is behind: current LSN - confirmed_flush_lsn', ['slot']),
    slotSafeWalSizeBytes: gauge('pgincr_slot_safe_wal_size_bytes', 'WAL that can be written before the slot is invalidated (absent when unlimited)', ['slot']),
    slotActive: gauge('pgincr_slot_active', '1 when a process holds the slot', ['slot']),
    slotWalStatus: gauge('pgincr_slot_wal_status', "1 for the slot's current wal_status (missing = no slot)", ['slot', 'wal_status']),
    healthSeverity: gauge('pgincr_health_severity', 'Worst health finding: 0 ok, 1 warning, 2 unknown, 3 critical, 4 emergency', ['slot']),
    captureLsn: gauge('pgincr_capture_lsn', 'Last durable LSN written by the capture, as a byte position', ['slot']),
    captureTransactionsTotal: counter('pgincr_capture_transactions_total', 'Transactions written to segments'),
    captureChangesTotal: counter('pgincr_capture_changes_total', 'Row changes written to segments'),
    captureBytesTotal: counter('pgincr_capture_bytes_total', 'Bytes written to segments'),
    segmentAgeSeconds: gauge('pgincr_segment_age_seconds', "Seconds since the newest sealed segment's last commit", ['slot']),
    lastFullBackupTimestampSeconds: gauge('pgincr_last_full_backup_timestamp_seconds', 'When the newest full backup was taken (Unix time)', ['slot']),
    lastVerifyTimestampSeconds: gauge('pgincr_last_verify_timestamp_seconds', 'When the newest verification ran (Unix time)', ['slot']),
    lastVerifyOk: gauge('pgincr_last_verify_ok', '1 when the newest verification passed', ['slot']),
    uploadLagSeconds: gauge('pgincr_upload_lag_seconds', 'Age of the oldest transaction durable on the capture worker but not yet in the bucket (0: none)', [
      'slot',
    ]),
    uploadFailures: gauge('pgincr_upload_failures', 'Uploads to the bucket failed in a row', ['slot']),
    restoreProgressLsn: gauge('pgincr_restore_progress_lsn', 'Commit LSN of the last applied transaction, as a byte position', ['restore']),
    restoreProgressTransactions: gauge('pgincr_restore_progress_transactions', 'Transactions applied by the restore', ['restore']),
  };
}

/** An LSN as a number for a gauge. */
export function lsnGaugeValue(lsn: string): number {
  return Number(parseLsn(lsn));
}

function setOrRemove(g: Gauge<'slot'>, slot: string, value: number | null | undefined): void {
  if (value === null || value === undefined) g.remove({ slot });
  else g.set({ slot }, value);
}

/** Sets the gauges from one health report; facts that were not observed are removed, not kept stale. */
export function updateFromHealth(m: PgincrMetrics, report: HealthReport): void {
  const slot = report.slotName;
  const obs = report.observations;
  const nowMs = Date.parse(report.checkedAt);
  m.healthSeverity.set({ slot }, SEVERITY_VALUE[report.status]);
  const s = obs.slot;
  setOrRemove(m.slotRestartLagBytes, slot, s?.restartLagBytes);
  setOrRemove(m.slotConfirmedFlushLagBytes, slot, s?.confirmedFlushLagBytes);
  setOrRemove(m.slotSafeWalSizeBytes, slot, s?.safeWalSizeBytes);
  setOrRemove(m.slotActive, slot, s ? Number(s.active) : undefined);
  const current = s === null ? 'missing' : s?.walStatus;
  for (const status of WAL_STATUSES) {
    if (s === undefined) m.slotWalStatus.remove({ slot, wal_status: status });
    else m.slotWalStatus.set({ slot, wal_status: status }, status === current ? 1 : 0);
  }
  const c = obs.catalog;
  setOrRemove(m.segmentAgeSeconds, slot, c?.lastSegmentAtMs != null ? Math.max(0, (nowMs - c.lastSegmentAtMs) / 1000) : undefined);
  setOrRemove(m.lastFullBackupTimestampSeconds, slot, c?.lastBaseAtMs != null ? c.lastBaseAtMs / 1000 : undefined);
  setOrRemove(m.lastVerifyTimestampSeconds, slot, c?.lastVerify ? c.lastVerify.atMs / 1000 : undefined);
  setOrRemove(m.lastVerifyOk, slot, c?.lastVerify ? Number(c.lastVerify.ok) : undefined);
  const u = obs.upload;
  setOrRemove(m.uploadLagSeconds, slot, u ? (u.pendingSinceMs === null ? 0 : Math.max(0, (nowMs - u.pendingSinceMs) / 1000)) : undefined);
  setOrRemove(m.uploadFailures, slot, u?.failures);
}

export interface MetricsServer {
  port: number;
  /** The address it listens on (`127.0.0.1` unless configured otherwise). */
  host: string;
  close(): Promise<void>;
}

/**
 * Serves `GET /metrics` from `registry` (port 0 picks a free port; see `.port`), on the loopback
 * address unless `host` says otherwise: the metrics name slots, databases and LSNs.
 */
export function startMetricsServer(port: number, registry: Registry, host = '127.0.0.1'): Promise<MetricsServer> {
  const server = createServer((req, res) => {
    if (req.method !== 'GET' || (req.url ?? '').split('?')[0] !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: try GET /metrics\n');
      return;
    }
    registry.metrics().then(
      (body) => res.writeHead(200, { 'content-type': registry.contentType }).end(body),
      (error: unknown) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`metrics failed: ${String(error)}\n`),
    );
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      const address = server.address() as AddressInfo;
      resolve({
        port: address.port,
        host: address.address,
        close: () =>
          new Promise<void>((done, fail) => {
            server.close((error) => (error ? fail(error) : done()));
            server.closeAllConnections();
          }),
      });
    });
  });
}
