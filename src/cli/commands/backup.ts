import type { Command } from 'commander';
import type { ContextFactory } from './index';
import { workflowIds } from '../../constants';

export function registerBackup(program: Command, ctx: ContextFactory): void {
  const backup = program.command('backup').description('full and globals backups');
  backup
    .command('full')
    .description('a new base aligned with the capture (temporary slot snapshot)')
    .action(async () => {
      const c = ctx();
      const base = await c.runWorkflow('fullBackupWorkflow', `${workflowIds.fullBackup(c.profile)}-${Date.now()}`, [{ profile: c.profile }]);
      if (base) c.print(`base ${base.baseId} at ${base.lsn}: ${base.tables} tables, ${base.bytes} bytes in ${base.dir}`, base);
    });
  backup
    .command('globals')
    .description('pg_dumpall --globals-only')
    .action(async () => {
      const c = ctx();
      const r = await c.runWorkflow('globalsBackupWorkflow', `${workflowIds.globalsBackup(c.profile)}-${Date.now()}`, [{ profile: c.profile }]);
      if (r) c.print(`globals written to ${r.file}`, r);
    });
}
