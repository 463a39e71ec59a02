/**
 * The monitor's state file, `<chainDir>/monitor/state.json`: per slot, the last seen
 * confirmed_flush_lsn and when it was first seen (PostgreSQL does not record that time).
 * `{ "version": 1, "slots": { "<slot>": { "confirmedFlushLsn": "0/…", "changedAt": "<ISO>" } } }`.
 * Written like every repository file: temp name, fsync, rename, fsync the folder; 0600 / 0700.
 */
import { mkdir, open, readFile, rename } from 'node:fs/promises';
import { join } from 'node:path';
import type { SlotProgress } from '../core/monitor/progress';

export interface MonitorState {
  version: 1;
  slots: Record<string, SlotProgress>;
}

export function monitorStatePath(chainDir: string): string {
  return join(chainDir, 'monitor', 'state.json');
}

/** Reads the state; a missing or unreadable file is an empty state (it only holds hints). */
export async function loadMonitorState(chainDir: string): Promise<MonitorState> {
  try {
    const raw = JSON.parse(await readFile(monitorStatePath(chainDir), 'utf8')) as Partial<MonitorState>;
    if (raw.version === 1 && raw.slots && typeof raw.slots === 'object') return { version: 1, slots: raw.slots };
  } catch {
    // fall through: a torn or missing state file only loses the "since when" of one check
  }
  return { version: 1, slots: {} };
}

/** Writes the state atomically. */
export async function saveMonitorState(chainDir: string, state: MonitorState): Promise<void> {
  const dir = join(chainDir, 'monitor');
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const file = monitorStatePath(chainDir);
  const tmp = `${file}.tmp-${process.pid}`;
  const handle = await open(tmp, 'w', 0o600);
  try {
    await handle.writeFile(`${JSON.stringify(state, null, 2)}\n`);
    await handle.sync();
  } finally {
    await handle.close();
  }
  await rename(tmp, file);
  const dirHandle = await open(dir, 'r');
  try {
    await dirHandle.sync();
  } finally {
    await dirHandle.close();
  }
}
