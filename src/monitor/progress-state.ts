/**
 * The monitor's state file, `<chainDir>/monitor/state.json`: per slot, the last seen
 * confirmed_flush_lsn and when it was first seen (PostgreSQL does not record that time).
 * `{ "version": 1, "slots": { "<slot>": { "confirmedFlushLsn": "0/…", "changedAt": "<ISO>" } } }`.
 * Written like every repository file (temp name, fsync, rename, fsync the folder; 0600 / 0700).
 */
import { readFile } from 'node:fs/promises';
import { incidentsPath, monitorDir, monitorStatePath } from '../core/repository/paths';

export { incidentsPath, monitorStatePath };
import { ensureDir, writeFileAtomic } from '../adapters/fs/atomic-write';
import type { SlotProgress } from '../core/monitor/progress';

export interface MonitorState {
  version: 1;
  slots: Record<string, SlotProgress>;
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
  await ensureDir(monitorDir(chainDir));
  await writeFileAtomic(monitorStatePath(chainDir), `${JSON.stringify(state, null, 2)}\n`);
}

/** Incidents alerted and not over yet (src/monitor/alerts.ts INCIDENT_CHECKS). */

export async function loadIncidents<T>(chainDir: string): Promise<Record<string, T>> {
  try {
    const raw = JSON.parse(await readFile(incidentsPath(chainDir), 'utf8')) as { version?: number; open?: Record<string, T> };
    if (raw.version === 1 && raw.open && typeof raw.open === 'object') return raw.open;
  } catch {
    // none open (or the file was removed: an open incident is then alerted once more)
  }
  return {};
}

export async function saveIncidents(chainDir: string, open: Record<string, unknown>): Promise<void> {
  await ensureDir(monitorDir(chainDir));
  await writeFileAtomic(incidentsPath(chainDir), `${JSON.stringify({ version: 1, open }, null, 2)}\n`);
}
