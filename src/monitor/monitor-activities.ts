/**
 * Health, retention and the CLI's direct commands (check, list, slot admin, catalog rebuild):
 * usable without Temporal, and as activities for the scheduled workflows.
 */
import type { CliOnlyActivities, HealthResult, PgincrActivities } from '../activities/types';
import { activityClient, profileByName, type ActivityDeps } from '../activities/context';
import { checkProfile } from './check-profile';
import { emitIncidentAlerts, emitReportAlerts, type OpenIncident } from './alerts';
import { loadIncidents, saveIncidents } from './progress-state';
import { updateFromHealth } from './metrics';
import { maybeAutoDrop, dropSlot, advanceSlot } from './slot-admin';
import { formatHuman, formatNagios } from '../core/monitor/health-format';
import type { HealthReport } from '../core/monitor/health';

type MonitorActivities = Pick<PgincrActivities, 'healthCheck'>;
type MonitorCliActivities = Pick<CliOnlyActivities, 'runCheck' | 'slotDrop' | 'slotAdvance'>;

export function monitorActivities(deps: ActivityDeps): MonitorActivities & MonitorCliActivities {
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
      if (incidents.emitted.length)
        await saveIncidents(chain, incidents.open).catch((error: unknown) => deps.logger.warn({ err: error }, 'cannot save the open incidents'));
      await maybeAutoDrop(report, { alerts: config.alerts, profile: profileByName(config, profile) }, deps.logger);
      return {
        status: report.status,
        exitCode: report.exitCode,
        findings: report.findings.map((f) => ({ check: f.check, severity: f.severity, message: f.message })),
      };
    },

    async runCheck({ profile, nagios }) {
      const { report } = await check(profile);
      return { report, text: (nagios ? formatNagios(report) : formatHuman(report)).join('\n') };
    },

    async slotDrop({ profile, slot, confirm }) {
      await dropSlot(profileByName(config, profile), slot, { confirm });
    },

    async slotAdvance({ profile, slot, lsn, confirm }) {
      const r = await advanceSlot(profileByName(config, profile), slot, lsn, { confirm });
      return { lsn: r.endLsn };
    },
  };
}
