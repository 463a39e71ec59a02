import type { Command } from 'commander';
import type { ContextFactory } from './index';
import { workflowIds } from '../../constants';

export function registerSetup(program: Command, ctx: ContextFactory): void {
  program
    .command('setup')
    .description('capture schema, replica identity, publication, slot + base from one snapshot, globals, metadata')
    .option('--new-chain', 'drop and recreate the slot and take a new base')
    .option('--no-start-capture', 'do not start the capture workflow afterwards')
    .action(async (opts: { newChain?: boolean; startCapture: boolean }) => {
      const c = ctx();
      const result = await c.runWorkflow('setupWorkflow', workflowIds.setup(c.profile), [
        { profile: c.profile, newChain: Boolean(opts.newChain), startCapture: opts.startCapture },
      ]);
      if (!result) return;
      const lines = [
        `${result.status}: chain ${result.chainDir}`,
        ...result.replicaIdentity.map((r) => `  replica identity ${r.table}: ${r.action}`),
        result.base ? `  base ${result.base.baseId} at ${result.base.lsn} (${result.base.tables} tables, ${result.base.bytes} bytes)` : '',
        result.captureWorkflowId ? `  capture workflow: ${result.captureWorkflowId}` : '',
      ].filter(Boolean);
      c.print(lines.join('\n'), result);
    });

  program
    .command('uninstall')
    .description('remove the slot, publication, event triggers and the pgincr schema (never the repository)')
    .requiredOption('--confirm <database>', 'the database name, to confirm')
    .action(async (opts: { confirm: string }) => {
      const c = ctx();
      const result = await (await c.activities()).uninstall({ profile: c.profile, confirm: opts.confirm });
      c.print(`removed from ${opts.confirm}: ${result.removed.join(', ') || 'nothing (already clean)'}`, result);
    });
}
