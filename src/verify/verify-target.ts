/**
 * Verification of a restored database against recorded checksums, and checkpoints: checksums
 * of the live source at an exact LSN (a temporary logical slot's exported snapshot), written
 * to `checkpoints/<lsn16>.json` so a later restore to that LSN can be verified.
 */
import type { Profile } from '../config';
import { databaseChecksums, snapshotChecksums } from '../adapters/pg/checksums';
import { createSlotWithSnapshot } from '../adapters/pg/slot';
import { ensureDir, writeFileAtomic } from '../adapters/fs/atomic-write';
import { formatLsn } from '../core/lsn';
import { checkpointPath } from '../core/repository/paths';
import { compareChecksums, compareKeptSequences, type ChecksumFile, type ChecksumMismatch } from '../core/verify/compare';
import { sequenceReach } from '../restore/sequences';
import { VerifyFailedError } from '../errors';
import { dirname } from 'node:path';

export interface VerifyTargetResult {
  ok: boolean;
  /** Tables (and, with `sequences: 'exact'`, sequences) that differ, in name order. */
  mismatches: ChecksumMismatch[];
  tablesChecked: number;
  /** A partial restore's sequences compared (options.onlySequences). */
  sequencesChecked: number;
}

export interface VerifyTargetOptions {
  /** Throw {@link VerifyFailedError} naming the tables when something differs. */
  throwOnMismatch?: boolean;
  sequences?: 'exact' | 'ignore';
  /** A partial restore: compare these tables only (checksums.json keys); the others must be absent. */
  onlyTables?: readonly string[];
  /** A partial restore: its sequences (checksums.json keys), compared as core/verify/compare.ts compareKeptSequences says. */
  onlySequences?: readonly string[];
}

/** Compares the target database's checksums with the expected ones. */
export async function verifyTarget(
  profile: Profile,
  expected: Pick<ChecksumFile, 'tables' | 'sequences'>,
  options: VerifyTargetOptions = {},
): Promise<VerifyTargetResult> {
  const actual = await databaseChecksums(profile);
  // Partial: the chosen tables' expected sums only; any other table in the target shows as unexpected.
  const only = options.onlyTables ? new Set(options.onlyTables) : null;
  const wanted = only ? { ...expected, tables: Object.fromEntries(Object.entries(expected.tables).filter(([k]) => only.has(k))) } : expected;
  const mismatches = compareChecksums(wanted, actual, { sequences: options.sequences ?? 'ignore' });
  const sequences = options.onlySequences ?? [];
  if (sequences.length > 0) mismatches.push(...compareKeptSequences(sequences, expected.sequences, actual.sequences, await sequenceReach(profile)));
  const result = { ok: mismatches.length === 0, mismatches, tablesChecked: Object.keys(wanted.tables).length, sequencesChecked: sequences.length };
  if (!result.ok && options.throwOnMismatch) {
    const lines = mismatches.map((m) => `${m.kind} ${m.name}: ${m.problem} (expected ${m.expected}, found ${m.actual})`);
    throw new VerifyFailedError(`restored database differs in ${mismatches.length} object(s):\n  ${lines.join('\n  ')}`, {
      hint: 'the restore is not faithful; keep the segments and the target for investigation and report it',
    });
  }
  return result;
}

/**
 * Takes a checkpoint of the source: a temporary logical slot fixes an LSN and exports its
 * snapshot; the checksums are read in that snapshot; the file is written atomically; closing the
 * replication connection drops the slot. Returns the LSN.
 */
export async function takeCheckpoint(
  profile: Profile,
  chainDir: string,
  options: { slot?: string; plugin?: string; now?: () => Date } = {},
): Promise<{ lsn: string; path: string }> {
  const slot = await createSlotWithSnapshot(profile, {
    slot: options.slot ?? `pgincr_checkpoint_${process.pid}`,
    plugin: options.plugin ?? 'pgoutput',
    temporary: true,
  });
  try {
    const sums = await snapshotChecksums(profile, slot.snapshotName);
    const lsn = formatLsn(slot.consistentLsn);
    const file: ChecksumFile = { lsn, takenAt: (options.now?.() ?? new Date()).toISOString(), ...sums };
    const path = checkpointPath(chainDir, slot.consistentLsn);
    await ensureDir(dirname(path));
    await writeFileAtomic(path, `${JSON.stringify(file, null, 2)}\n`);
    return { lsn, path };
  } finally {
    await slot.close();
  }
}
