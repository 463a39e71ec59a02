/**
 * `pgincr check`: gathers the observations (slot stats from the source, the catalog, the
 * repository disk, the progress state file) and evaluates them. Never throws because the source
 * is down or a file is missing: those become findings (UNKNOWN / WARNING), so a monitoring
 * system always gets a status line and an exit code.
 */
import { statfs } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Client } from 'pg';
import type { z } from 'zod';
import { durationMs, type alertsSchema, type Profile } from '../config';
import { loadCatalog } from '../adapters/fs/catalog-store';
import { connectProfile } from '../adapters/pg/connect';
import { catalogPath } from '../core/repository/paths';
import { queryMaxSlotWalKeepSize, querySlotStats } from '../adapters/pg/slot-stats';
import { fullIdentityWithKey } from '../adapters/pg/preflight-queries';
import { catalogFacts, type CatalogLike } from '../core/monitor/catalog-facts';
import { evaluateHealth, type HealthObservations, type HealthReport, type HealthThresholds } from '../core/monitor/health';
import { trackProgress } from '../core/monitor/progress';
import { loadMonitorState, saveMonitorState } from './progress-state';
import { loadCaptureFailure } from './capture-failures';
import { observeUploads } from './upload-record';
import { parseLsn } from '../core/lsn';

export type AlertsConfig = z.infer<typeof alertsSchema>;

export interface HealthCheckOptions {
  profile: Profile;
  slot: string;
  /** `<repository>/<system_identifier>-<dbname>`: catalog, state file, disk usage. */
  chainDir: string;
  alerts: AlertsConfig;
  /** From Temporal; leave undefined when not asked, 'unknown' when Temporal could not answer. */
  captureRunning?: boolean | 'unknown';
  /** What Temporal said about the capture workflow (id, status or error), for the finding's message. */
  captureWorkflow?: HealthObservations['captureWorkflow'];
  /** Temporal's pending capture activity: attempt and last failure (when asked and it runs). */
  captureActivity?: HealthObservations['captureActivity'];
  /** The oldest a last full backup may be (e.g. twice the full backup schedule's interval). */
  maxBaseAgeMs?: number;
  /** Warn when no segment was sealed for this long while the capture is behind. */
  segmentAgeWarningMs?: number;
  /** With an object store: observe the uploads (this worker's folder against the bucket's catalog). */
  uploads?: boolean;
  /** Loads the catalog; defaults to catalog-store's loadCatalog (`<chainDir>/catalog/catalog.json`). */
  loadCatalog?: (chainDir: string) => Promise<CatalogLike>;
  connectTimeoutMs?: number;
  /** Two repositories: compares the local repository with its object-store copy. */
  compareCopy?: () => Promise<NonNullable<HealthObservations['repositoryCopy']>>;
  now?: () => number;
  env?: NodeJS.ProcessEnv;
}

/** The thresholds from the `alerts` config section plus the schedule-derived limits. */
export function thresholdsFromConfig(alerts: AlertsConfig, extra: { maxBaseAgeMs?: number; segmentAgeWarningMs?: number } = {}): HealthThresholds {
  return {
    restartLagWarningBytes: alerts.restartLagWarningBytes,
    restartLagCriticalBytes: alerts.restartLagCriticalBytes,
    restartLagEmergencyBytes: alerts.restartLagEmergencyBytes,
    noProgressEmergencyMs: durationMs(alerts.noProgressEmergency),
    captureFailingCriticalMs: durationMs(alerts.captureFailingCritical),
    repositoryDiskWarningPercent: alerts.repositoryDiskWarningPercent,
    upload: {
      uploadLagWarningMs: durationMs(alerts.uploadLagWarning),
      uploadLagCriticalMs: durationMs(alerts.uploadLagCritical),
      uploadFailuresWarning: alerts.uploadFailuresWarning,
      uploadFailuresCritical: alerts.uploadFailuresCritical,
    },
    ...(extra.maxBaseAgeMs !== undefined ? { maxBaseAgeMs: extra.maxBaseAgeMs } : {}),
    ...(extra.segmentAgeWarningMs !== undefined ? { segmentAgeWarningMs: extra.segmentAgeWarningMs } : {}),
  };
}

/** A one-line description of an error, without secrets (pg errors carry none). */
export function describeError(error: unknown): string {
  if (error instanceof AggregateError && error.errors.length) return describeError(error.errors[0]);
  if (error instanceof Error) {
    const code = (error as { code?: string }).code;
    const message = error.message || code || error.name;
    return code && !message.includes(code) ? `${message} (${code})` : message;
  }
  return String(error);
}

async function readCatalog(chainDir: string): Promise<CatalogLike> {
  const catalog = await loadCatalog(chainDir);
  if (!catalog) throw new Error(`no catalog at ${catalogPath(chainDir)} (has \`pgincr setup\` run?)`);
  return catalog;
}

async function observeSource(opts: HealthCheckOptions, obs: HealthObservations): Promise<void> {
  let client: Client | undefined;
  try {
    client = await connectProfile(
      opts.profile,
      { application_name: 'pgincr-check', connectionTimeoutMillis: opts.connectTimeoutMs ?? 10_000, statement_timeout: 30_000 },
      opts.env,
    );
    obs.slot = await querySlotStats(client, opts.slot);
    obs.maxSlotWalKeepSizeBytes = await queryMaxSlotWalKeepSize(client);
    obs.fullIdentityWithKey = await fullIdentityWithKey(client);
  } catch (error) {
    obs.database = { reachable: false, error: describeError(error) };
    delete obs.slot;
    delete obs.maxSlotWalKeepSizeBytes;
    delete obs.fullIdentityWithKey;
  } finally {
    await client?.end().catch(() => undefined);
  }
}

async function observeProgress(opts: HealthCheckOptions, obs: HealthObservations, nowMs: number): Promise<void> {
  if (!obs.slot) return;
  try {
    const state = await loadMonitorState(opts.chainDir);
    const previous = state.slots[opts.slot];
    const next = trackProgress(previous, obs.slot.confirmedFlushLsn, nowMs);
    if (!next) return;
    obs.lastFlushProgressAtMs = Date.parse(next.changedAt);
    if (next !== previous) await saveMonitorState(opts.chainDir, { version: 1, slots: { ...state.slots, [opts.slot]: next } });
  } catch {
    // the state file is a convenience: without it the no-progress check counts from now
  }
}

async function observeRepository(opts: HealthCheckOptions, obs: HealthObservations): Promise<void> {
  let catalog: CatalogLike | undefined;
  try {
    catalog = await (opts.loadCatalog ?? readCatalog)(opts.chainDir);
    obs.catalog = catalogFacts(catalog);
  } catch (error) {
    obs.catalogError = describeError(error);
  }
  if (opts.uploads) {
    // The bucket's end from its catalog when it answered; else the capture's record of its last upload.
    const ends = ((catalog as { segments?: { endLsn?: string }[] } | undefined)?.segments ?? []).map((s) => (s.endLsn ? parseLsn(s.endLsn) : 0n));
    const bucketEnd = catalog ? ends.reduce((max, l) => (l > max ? l : max), 0n) : undefined;
    const upload = await observeUploads(opts.chainDir, bucketEnd).catch(() => undefined);
    if (upload) obs.upload = upload;
  }
  // The chain folder, else the nearest folder above it (a worker's spool with an object store may not hold the chain yet).
  const dirs = [opts.chainDir];
  while (dirname(dirs.at(-1)!) !== dirs.at(-1)) dirs.push(dirname(dirs.at(-1)!));
  for (const dir of dirs) {
    try {
      const s = await statfs(dir);
      const used = s.blocks - s.bfree;
      const usable = used + s.bavail;
      obs.repositoryDisk = {
        usedPercent: usable > 0 ? (used / usable) * 100 : 0,
        totalBytes: s.blocks * s.bsize,
        freeBytes: s.bavail * s.bsize,
      };
      return;
    } catch (error) {
      obs.repositoryDisk = { error: describeError(error) };
    }
  }
}

/** Runs every check once and returns the report (status, findings, exit code, observations). */
export async function runHealthCheck(opts: HealthCheckOptions): Promise<HealthReport> {
  const now = opts.now ?? Date.now;
  const obs: HealthObservations = { slotName: opts.slot, database: { reachable: true } };
  if (opts.captureRunning !== undefined) obs.captureRunning = opts.captureRunning;
  if (opts.captureWorkflow !== undefined) obs.captureWorkflow = opts.captureWorkflow;
  if (opts.captureActivity !== undefined) obs.captureActivity = opts.captureActivity;
  // The capture's failure record: written by the capture activity, read without Temporal.
  obs.captureFailure = await loadCaptureFailure(opts.chainDir, opts.slot);
  await observeSource(opts, obs);
  const nowMs = now();
  await observeProgress(opts, obs, nowMs);
  await observeRepository(opts, obs);
  if (opts.compareCopy) obs.repositoryCopy = await opts.compareCopy();
  return evaluateHealth(obs, thresholdsFromConfig(opts.alerts, opts), nowMs);
}
