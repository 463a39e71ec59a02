/**
 * Health, retention and the CLI's direct commands (check, list, slot admin, catalog rebuild):
 * usable without Temporal, and as activities for the scheduled workflows.
 */
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { HealthResult, PgincrActivities } from '../activities/types';
import { activityClient, chainDirFor, profileByName, type ActivityDeps } from '../activities/context';
import { durationMs } from '../config';
import { checkProfile } from './check-profile';
import { emitIncidentAlerts, emitReportAlerts, type OpenIncident } from './alerts';
import { loadIncidents, saveIncidents } from './progress-state';
import { askCaptureState } from './capture-state';
import { updateFromHealth } from './metrics';
import { maybeAutoDrop, dropSlot, advanceSlot } from './slot-admin';
import { formatHuman, formatNagios } from '../core/monitor/health-format';
import type { HealthReport } from '../core/monitor/health';
import { expirable } from '../core/retention/retention';
import { removeEntries, restorableWindow, findGaps } from '../core/catalog/catalog';
import { loadCatalog, rebuildCatalog, updateCatalog } from '../adapters/fs/catalog-store';
import { table } from '../core/format/table';
import * as setup from '../setup/setup';

type MonitorActivities = Pick<PgincrActivities, 'healthCheck' | 'applyRetention'>;

export interface CliOnlyActivities {
  runCheck(input: { profile: string; nagios: boolean }): Promise<{ report: HealthReport; text: string }>;
  slotDrop(input: { profile: string; slot: string; confirm: string }): Promise<void>;
  slotAdvance(input: { profile: string; slot: string; lsn: string; confirm: string }): Promise<{ lsn: string }>;
  listRepository(input: { profile: string }): Promise<{ text: string; data: unknown }>;
  /** `damaged`: sealed segments left out because they fail verification (file and offset each). */
  rebuildCatalog(input: { profile: string }): Promise<{ bases: number; segments: number; damaged: string[] }>;
  uninstall(input: { profile: string; confirm: string }): Promise<{ removed: string[] }>;
}

export function monitorActivities(deps: ActivityDeps): MonitorActivities & CliOnlyActivities {
  const { config } = deps;

  /** One check; the capture workflow's state comes from Temporal (the worker's client inside an activity). */
  async function check(profile: string): Promise<{ report: HealthReport; chain: string }> {
    const client = activityClient();
    const { report, chain } = await checkProfile(config, deps.logger, profile, client ?? undefined);
    if (deps.metrics) updateFromHealth(deps.metrics, report);
    return { report, chain };
  }

  return {
    async healthCheck({ profile }): Promise<HealthResult> {
      const { report, chain } = await check(profile);
      const alertOpts = { webhookUrl: config.alerts.webhookUrl, slot: config.capture.slot };
      emitReportAlerts(deps.logger, report, alertOpts);
      // A stuck capture pages once when it begins and once when it is over, not at every check.
      const incidents = emitIncidentAlerts(deps.logger, report, await loadIncidents<OpenIncident>(chain), alertOpts);
      if (incidents.emitted.length) await saveIncidents(chain, incidents.open).catch((error: unknown) => deps.logger.warn({ err: error }, 'cannot save the open incidents'));
      await maybeAutoDrop(report, { alerts: config.alerts, profile: profileByName(config, profile) }, deps.logger);
      return { status: report.status, exitCode: report.exitCode, findings: report.findings.map((f) => ({ check: f.check, severity: f.severity, message: f.message })) };
    },

    async runCheck({ profile, nagios }) {
      const { report } = await check(profile);
      return { report, text: (nagios ? formatNagios(report) : formatHuman(report)).join('\n') };
    },

    async applyRetention({ profile, dryRun }) {
      const chain = await chainDirFor(deps, profile);
      let catalog = (await loadCatalog(chain)) ?? (await rebuildCatalog(chain));
      let plan = expirable(catalog, config.retention, Date.now());
      if (!dryRun) {
        // Catalog first: a crash after it leaves unreferenced files (harmless), never dangling entries.
        // Planned and removed under the catalog lock, so a segment recorded meanwhile is kept.
        await updateCatalog(chain, async (current) => {
          catalog = current ?? (await rebuildCatalog(chain));
          plan = expirable(catalog, config.retention, Date.now());
          return removeEntries(catalog, { bases: plan.bases.map((b) => b.id), segments: plan.segments.map((s) => s.file) });
        });
      }
      const removed = [...plan.bases.map((b) => `base ${b.id}: ${b.reason}`), ...plan.segments.map((s) => `segment ${s.file}: ${s.reason}`)];
      if (!dryRun) {
        for (const b of plan.bases) await rm(join(chain, 'base', b.id), { recursive: true, force: true });
        for (const s of plan.segments) await rm(join(chain, s.file), { force: true });
      }
      deps.logger.info({ chain, dryRun, removed: removed.length }, 'retention applied');
      return { removed, kept: catalog.bases.length + catalog.segments.length - removed.length };
    },

    async slotDrop({ profile, slot, confirm }) {
      await dropSlot(profileByName(config, profile), slot, { confirm });
    },

    async slotAdvance({ profile, slot, lsn, confirm }) {
      const r = await advanceSlot(profileByName(config, profile), slot, lsn, { confirm });
      return { lsn: r.endLsn };
    },

    async listRepository({ profile }) {
      const chain = await chainDirFor(deps, profile);
      const catalog = (await loadCatalog(chain)) ?? (await rebuildCatalog(chain));
      const window = restorableWindow(catalog);
      const gaps = findGaps(catalog);
      const lines = [
        `chain ${chain}`,
        '',
        table(['BASE', 'LSN', 'TAKEN AT', 'BYTES'], catalog.bases.map((b) => [b.id, b.lsn, b.takenAt, b.bytes])),
        '',
        table(['SEGMENT', 'START', 'END', 'TXNS', 'LAST COMMIT'], catalog.segments.map((s) => [s.file, s.startLsn, s.endLsn, s.transactions, s.lastCommitTime])),
        '',
        window.earliest && window.latest
          ? `restorable: from ${window.earliest.time} (${window.earliest.lsn}) to ${window.latest.time} (${window.latest.lsn})`
          : 'restorable: nothing yet (no base)',
        table(['FROM BASE', 'FROM LSN', 'TO LSN', 'TO TIME', 'CHAIN'], window.ranges.map((r) => [
          r.baseId, r.fromLsn, r.toLsn, r.toTime, r.broken ? `${r.broken.kind} ${r.broken.fromLsn} → ${r.broken.toLsn} before ${r.broken.before}` : 'whole'])),
        gaps.length ? `GAPS: ${gaps.map((g) => `${g.kind} from ${g.fromLsn} to ${g.toLsn}, after ${g.after}, before ${g.before}`).join('; ')}` : 'no gaps',
      ];
      return { text: lines.join('\n'), data: { chain, catalog, window, gaps } };
    },

    async rebuildCatalog({ profile }) {
      const chain = await chainDirFor(deps, profile);
      const damaged: string[] = [];
      const catalog = await updateCatalog(chain, () => rebuildCatalog(chain, damaged));
      return { bases: catalog.bases.length, segments: catalog.segments.length, damaged };
    },

    async uninstall({ profile, confirm }) {
      const dbname = profileByName(config, profile).dbname ?? process.env.PGDATABASE;
      if (confirm !== dbname) throw new Error(`refusing to uninstall: --confirm ${confirm} does not match the profile's database ${dbname ?? '(unknown)'}`);
      const r = await setup.uninstall(deps, { profile });
      return { removed: [r.slot ? `slot ${config.capture.slot}` : '', r.publication ? `publication ${config.capture.publication}` : '', 'event triggers', 'schema pgincr'].filter(Boolean) };
    },
  };
}
