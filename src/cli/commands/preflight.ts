import type { Command } from 'commander';
import type { ContextFactory } from './index';
import { table } from '../context';
import { workflowIds } from '../../constants';
import type { PreflightResult } from '../../activities/types';

export function formatPreflight(report: PreflightResult): string {
  const rows = report.findings.map((f) => [f.status.toUpperCase(), f.check, f.message + (f.hint ? ` (${f.hint})` : '')]);
  const verdict = report.exitCode === 0 ? 'ready' : report.exitCode === 1 ? 'ready, with warnings' : 'NOT READY';
  return `${table(['STATUS', 'CHECK', 'DETAIL'], rows)}\n\n${report.server ?? ''} profile ${report.profile}: ${verdict}`;
}

export function registerPreflight(program: Command, ctx: ContextFactory): void {
  program
    .command('preflight')
    .description('readiness report; exit 0 ready, 1 warnings, 2 not ready')
    .option('--direct', 'run the checks here, without Temporal (cron, CI)')
    .action(async (opts: { direct?: boolean }) => {
      const c = ctx();
      // No repository configured: check the database here anyway and report the repository as
      // a not-ready line (a worker started with this configuration could not run either).
      const { config, repository } = c.configOrNoRepository();
      let report: PreflightResult | undefined;
      if (repository === null) {
        const { runPreflight } = require('../../setup/preflight') as typeof import('../../setup/preflight');
        const { profileByName } = require('../../activities/profiles') as typeof import('../../activities/profiles');
        const r = await runPreflight(
          profileByName(config, c.profile),
          { decoder: config.capture.decoder, slot: config.capture.slot },
          { repository: null, pgDump: true },
        );
        report = { profile: c.profile, ready: r.ready, exitCode: r.exitCode, findings: r.findings, server: r.server };
      } else {
        report = opts.direct
          ? await (await c.activities()).preflight({ profile: c.profile })
          : await c.runWorkflow('preflightWorkflow', `${workflowIds.preflight(c.profile)}-${Date.now()}`, [{ profile: c.profile }]);
      }
      if (!report) return;
      c.print(formatPreflight(report), report);
      process.exitCode = report.exitCode;
    });
}
