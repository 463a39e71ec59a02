import { long, quick } from './activity-options';
import { backupInput, type BackupInput } from './inputs';
import { parseInput } from './validate';
import { COVERAGE_TIMEOUT_MS, markAndRotate } from './coverage';
import type { BaseResult, SegmentCoverage } from '../activities/types';

/** A full backup, and whether sealed segments reach its LSN yet (restores to it can be planned). */
export interface FullBackupResult extends BaseResult {
  coverage: SegmentCoverage;
}

/**
 * A new base aligned with the running capture: a temporary slot's exported snapshot gives its
 * exact LSN; pg_dump and the table checksums run in that snapshot; globals and metadata beside.
 * Then a marker transaction after that LSN and a rotation request, and a bounded wait until a
 * sealed segment reaches the LSN (returned as `coverage`; not covered when no capture runs).
 */
export async function fullBackupWorkflow(raw: BackupInput): Promise<FullBackupResult> {
  const input = parseInput(backupInput, raw, 'fullBackupWorkflow');
  const base = await long.takeBase({ profile: input.profile, temporarySlot: true });
  await markAndRotate(input.profile, base.lsn, { kind: 'full-backup', note: base.baseId });
  await long.dumpGlobals({ profile: input.profile, baseId: base.baseId });
  await quick.writeMetadata({ profile: input.profile, baseId: base.baseId });
  const coverage = await long.waitForSegmentCoverage({ profile: input.profile, lsn: base.lsn, timeoutMs: COVERAGE_TIMEOUT_MS });
  return { ...base, coverage };
}
