/**
 * Test-only kill points (the fault gauntlet, issue 18; docs/architecture.md, "Fault points").
 * `PGINCR_FAULT_POINT=<name>[@<n>]` makes this process SIGKILL itself the n-th time (default:
 * the first) it reaches the named point, so a fault test makes a crash happen exactly there
 * (mid-fsync, mid-rotation, …) instead of hoping a random kill lands on it. Unset — always, in
 * production — `faultPoint` is one comparison; the variable is read once, when this loads.
 */
import { writeSync } from 'node:fs';

export const FAULT_POINTS = [
  /** A write reached the file while a transaction was open: its BEGIN and some statements are on disk, not its COMMIT. */
  'mid-transaction',
  /** Group commit wrote the buffered transactions to the file, the fdatasync has not returned. */
  'mid-fsync',
  /** A seal wrote and fsynced the footer, the partial segment is not yet renamed into segments/. */
  'mid-rotation',
  /** The gzip of a sealed segment is renamed into place, the uncompressed file not yet removed. */
  'mid-gzip',
  /** The catalog lock is held and the new catalog computed, not yet saved. */
  'mid-catalog-update',
  /** The capture workflow decided to continue-as-new; its workflow task is not yet completed. */
  'mid-continue-as-new',
] as const;

export type FaultPointName = (typeof FAULT_POINTS)[number];

interface Armed {
  name: FaultPointName;
  hit: number;
}

function parseArmed(value: string | undefined): Armed | undefined {
  if (value === undefined || value === '') return undefined;
  const m = /^([a-z-]+)(?:@(\d+))?$/.exec(value);
  const name = m?.[1] as FaultPointName | undefined;
  if (!m || !name || !FAULT_POINTS.includes(name) || (m[2] !== undefined && Number(m[2]) < 1)) {
    throw new Error(`PGINCR_FAULT_POINT=${value}: expected <name>[@<n>] with name one of ${FAULT_POINTS.join(', ')} (a test-only setting: unset it)`);
  }
  return { name, hit: Number(m[2] ?? 1) };
}

const armed = parseArmed(process.env.PGINCR_FAULT_POINT);
let hits = 0;

/** SIGKILLs this process when `name` is the armed point and this is its n-th hit; otherwise nothing. */
export function faultPoint(name: FaultPointName): void {
  if (armed === undefined) return;
  if (armed.name !== name || ++hits < armed.hit) return;
  // Written synchronously: the process ends on the next line, and the test reads this to know the point was reached.
  writeSync(2, `${JSON.stringify({ msg: 'fault point reached: SIGKILL', faultPoint: name, hit: hits, pid: process.pid, time: new Date().toISOString() })}\n`);
  process.kill(process.pid, 'SIGKILL');
}
