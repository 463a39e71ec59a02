import type { Command } from 'commander';
import type { ContextFactory } from './index';

export function registerSlot(program: Command, ctx: ContextFactory): void {
  const slot = program.command('slot').description('emergency slot administration (breaks the backup chain)');
  slot
    .command('drop <slot>')
    .description('drop a replication slot that threatens the source; a new setup (--new-chain) is needed afterwards')
    .requiredOption('--confirm <slot>', 'repeat the slot name')
    .action(async (name: string, opts: { confirm: string }) => {
      const c = ctx();
      await (await c.activities()).slotDrop({ profile: c.profile, slot: name, confirm: opts.confirm });
      c.print(`slot ${name} dropped. the backup chain is broken: run pgincr setup --new-chain`, { dropped: name });
    });
  slot
    .command('advance <slot> <lsn>')
    .description('move a slot forward, discarding the changes before LSN (they are lost for the backup)')
    .requiredOption('--confirm <slot>', 'repeat the slot name')
    .action(async (name: string, lsn: string, opts: { confirm: string }) => {
      const c = ctx();
      const r = await (await c.activities()).slotAdvance({ profile: c.profile, slot: name, lsn, confirm: opts.confirm });
      c.print(`slot ${name} advanced to ${r.lsn}. changes before it are not in the backup: take a full backup now`, r);
    });
}
