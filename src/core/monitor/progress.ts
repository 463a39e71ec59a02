/**
 * Tracking when a slot's confirmed_flush_lsn last moved. PostgreSQL does not record that time,
 * so each check stores the last seen LSN and when it changed (`<chain>/monitor/state.json`,
 * see src/monitor/progress-state.ts) and carries the time forward while the LSN stays put. Pure.
 */

/** The remembered position of one slot. */
export interface SlotProgress {
  confirmedFlushLsn: string;
  /** ISO time at which the check first saw this confirmedFlushLsn. */
  changedAt: string;
}

/**
 * The next progress record: unchanged when the LSN has not moved, restarted at `nowMs` when it
 * moved (or on first sight). A null LSN (lost slot) keeps the previous record.
 */
export function trackProgress(previous: SlotProgress | undefined, confirmedFlushLsn: string | null, nowMs: number): SlotProgress | undefined {
  if (confirmedFlushLsn === null) return previous;
  if (previous && previous.confirmedFlushLsn === confirmedFlushLsn) return previous;
  return { confirmedFlushLsn, changedAt: new Date(nowMs).toISOString() };
}
