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
      const result = await (await c.activities()).runCheck({ profile: c.profile, nagios: Boolean(opts.nagios) });
      c.print(result.text, result.report);
      process.exitCode = result.report.exitCode;
    });
}
