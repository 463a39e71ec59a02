import type { Command } from 'commander';
import type { ContextFactory } from './index';

export function registerCheck(program: Command, ctx: ContextFactory): void {
  program
    .command('check')
    .description('slot lag, WAL status, backups, disk, capture workflow; exit 0/1/2/3 = OK/WARNING/CRITICAL/UNKNOWN (Temporal optional)')
    .option('--nagios', 'Nagios plugin output (first line status | perfdata)')
    .action(async (opts: { nagios?: boolean }) => {
      let c;
      try {
        c = ctx();
        void c.config;
      } catch (err) {
        process.stdout.write(`PGINCR UNKNOWN - ${(err as Error).message.split('\n')[0]}\n`);
        process.exitCode = 3;
        return;
      }
      // Only the check itself is loaded (not the activities): `pgincr check` runs from cron and Nagios.
      const { checkProfile } = require('../../monitor/check-profile') as typeof import('../../monitor/check-profile');
      const { formatHuman, formatNagios } = require('../../core/monitor/health-format') as typeof import('../../core/monitor/health-format');
      const { report } = await checkProfile(c.config, c.logger, c.profile);
      c.print((opts.nagios ? formatNagios(report) : formatHuman(report)).join('\n'), report);
      process.exitCode = report.exitCode;
    });
}
