import type { Command } from 'commander';
import type { CliContext } from '../context';
import { registerRuntime } from './runtime';
import { registerPreflight } from './preflight';
import { registerSetup } from './setup';
import { registerCapture } from './capture';
import { registerBackup } from './backup';
import { registerRestore } from './restore';
import { registerCheck } from './check';
import { registerSchedules } from './schedules';
import { registerSlot } from './slot';
import { registerLog } from './log';

export type ContextFactory = () => CliContext;

export function registerCommands(program: Command, ctx: ContextFactory): void {
  registerRuntime(program, ctx);
  registerPreflight(program, ctx);
  registerSetup(program, ctx);
  registerCapture(program, ctx);
  registerBackup(program, ctx);
  registerRestore(program, ctx);
  registerCheck(program, ctx);
  registerSchedules(program, ctx);
  registerSlot(program, ctx);
  registerLog(program, ctx);
}
