/**
 * Makes a base's or a checkpoint's LSN reachable by sealed segments, so a restore "to that LSN"
 * can be planned: if no sealed segment ends at or after it yet, a marker transaction goes into
 * the stream, the capture is asked to rotate, and the workflow waits (bounded) for the catalog
 * to show the sealed segment. Without a running capture it returns "not covered" with the reason.
 */
import { long, quick } from './activity-options';
import type { MarkerKind, SegmentCoverage } from '../activities/types';

/** How long to wait for the capture to seal the marker's segment. */
export const COVERAGE_TIMEOUT_MS = 120_000;

export async function ensureCoverage(
  profile: string,
  lsn: string,
  marker: { kind: MarkerKind; note: string },
  timeoutMs = COVERAGE_TIMEOUT_MS,
): Promise<SegmentCoverage> {
  const now = await quick.waitForSegmentCoverage({ profile, lsn, timeoutMs: 0 });
  if (now.covered) return now;
  await markAndRotate(profile, lsn, marker);
  return long.waitForSegmentCoverage({ profile, lsn, timeoutMs });
}

/** Writes the marker transaction after `lsn` and asks the capture to seal its segment. */
export async function markAndRotate(profile: string, lsn: string, marker: { kind: MarkerKind; note: string }): Promise<void> {
  await quick.writeMarker({ profile, kind: marker.kind, lsn, note: marker.note });
  await quick.requestRotation({ profile });
}
