import type { Command } from 'commander';
import type { ContextFactory } from './index';
import { table } from '../context';
const schedulesModule = () => require('../../schedules') as typeof import('../../schedules');

export function registerSchedules(program: Command, ctx: ContextFactory): void {
  const schedules = program.command('schedules').description('Temporal Schedules for full/globals backups, health, retention, verify');
  schedules
    .command('apply')
    .description('create or update the schedules from the config (idempotent)')
    .action(async () => {
      const c = ctx();
      const { applySchedules } = schedulesModule();
      const result = await c.withTemporal((client) => applySchedules(client, c.config, c.profile));
      c.print(result.map((r) => `${r.action.padEnd(8)} ${r.scheduleId}  (${r.cron})`).join('\n'), result);
    });
  schedules.command('list').action(async () => {
    const c = ctx();
    const { listSchedules } = schedulesModule();
    const rows = await c.withTemporal((client) => listSchedules(client, c.profile));
    c.print(
      table(
        ['SCHEDULE', 'WORKFLOW', 'CRON', 'PAUSED', 'NEXT'],
        rows.map((r) => [r.scheduleId, r.workflowType, r.cron, r.paused ? 'yes' : 'no', r.next ?? '-']),
      ),
      rows,
    );
  });
  for (const verb of ['pause', 'unpause', 'trigger'] as const) {
    schedules
      .command(`${verb} <name>`)
      .description(`${verb} a schedule (name: full-backup, globals-backup, health-check, retention, verify, or the full id)`)
      .action(async (name: string) => {
        const c = ctx();
        const { scheduleHandle } = schedulesModule();
        const id = await c.withTemporal(async (client) => {
          const handle = scheduleHandle(client, c.profile, name);
          if (verb === 'pause') await handle.pause('paused from the pgincr CLI');
          else if (verb === 'unpause') await handle.unpause('unpaused from the pgincr CLI');
          else await handle.trigger();
          return handle.scheduleId;
        });
        c.print(`${verb}: ${id}`, { scheduleId: id, action: verb });
      });
  }
}
