/**
 * When to seal the open segment. Asked only between transactions (a transaction never spans
 * two segments), and never for an empty segment: there is nothing to seal.
 */

export interface RotationState {
  /** Bytes in the open segment so far. */
  bytes: number;
  /** Whole transactions in it; 0 means never rotate. Omitted = unknown (treated as non-empty). */
  transactions?: number;
  openedAtMs: number;
  nowMs: number;
  /** A "rotate now" signal is pending. */
  requested: boolean;
}

export interface RotationLimits {
  maxBytes: number;
  maxAgeMs: number;
}

export type RotateReason = 'requested' | 'size' | 'age';

/** Returns why the segment should be sealed now, or null to keep writing. */
export function shouldRotate(state: RotationState, limits: RotationLimits): RotateReason | null {
  if (state.transactions === 0) return null;
  if (state.requested) return 'requested';
  if (state.bytes >= limits.maxBytes) return 'size';
  if (state.nowMs - state.openedAtMs >= limits.maxAgeMs) return 'age';
  return null;
}
