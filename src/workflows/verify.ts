import { executeChild, workflowInfo } from '@temporalio/workflow';
import { quick, long } from './activity-options';
import { verifyInput, type VerifyInput } from './inputs';
import { parseInput } from './validate';
import { workflowIds } from './ids';
import { childSearchAttributes } from './labels';
import { ensureCoverage } from './coverage';
import type { restoreWorkflow, RestoreReport } from './restore';

export interface VerifyReport {
  ok: boolean;
  fromBase: string | null;
  toLsn: string | null;
  mismatches: string[];
  message: string;
}

/**
 * Proof that the chain restores: restore a base plus segments up to a later recorded checkpoint
 * (the next base's snapshot, or a fresh checkpoint) into a scratch database, compare with that
 * checkpoint's checksums exactly, drop the scratch database, record the result in the catalog.
 * A failed verification keeps the scratch database (named in the message) for investigation.
 * The point must be reachable by sealed segments: if it is not yet, a marker transaction and a
 * rotation make the running capture seal one; without a running capture the report says so
 * (not ok, nothing recorded: no restore was tried).
 */
export async function verifyWorkflow(raw: VerifyInput): Promise<VerifyReport> {
  const input = parseInput(verifyInput, raw, 'verifyWorkflow');
  const checkpoint = input.checkpoint ? await long.takeCheckpoint({ profile: input.profile }) : undefined;
  const target = await quick.planVerification({ profile: input.profile, checkpoint: input.checkpoint });
  if (!target) {
    return { ok: true, fromBase: null, toLsn: null, mismatches: [], message: 'nothing to verify yet: one base and no later checkpoint' };
  }
  const coverage = await ensureCoverage(input.profile, target.toLsn, {
    kind: checkpoint?.lsn === target.toLsn ? 'checkpoint' : 'verify',
    note: `verify ${workflowInfo().workflowId}`,
  });
  if (!coverage.covered) {
    return {
      ok: false,
      fromBase: target.fromBase,
      toLsn: target.toLsn,
      mismatches: [],
      message: `cannot verify up to ${target.toLsn}: no sealed segment reaches it (${coverage.reason ?? `sealed segments end at ${coverage.sealedEndLsn ?? '(none)'}`})`,
    };
  }
  const scratch = `pgincr_verify_${workflowInfo().runId.replace(/-/g, '').slice(0, 12)}`;
  let report: RestoreReport | undefined;
  const labels = childSearchAttributes('restore', { extraDatabases: [scratch] });
  let mismatches: string[] = [];
  let message = 'verified';
  try {
    report = await executeChild<typeof restoreWorkflow>('restoreWorkflow', {
      workflowId: workflowIds.verifyRestore(workflowInfo().workflowId, scratch),
      staticSummary: `verification restore into ${scratch} · to commit lsn <= ${target.toLsn} · from base ${target.fromBase}`,
      ...(labels ? { typedSearchAttributes: labels } : {}),
      args: [
        {
          profile: input.profile,
          targetProfile: input.targetProfile,
          targetDb: scratch,
          fromBase: target.fromBase,
          target: { kind: 'lsn', lsn: target.toLsn, inclusive: true },
          dropAfter: true,
          verify: true,
        },
      ],
    });
  } catch (err) {
    const details = (err as { cause?: { details?: unknown[] } }).cause?.details?.[0] as { mismatches?: { table: string }[] } | undefined;
    mismatches = details?.mismatches?.map((m) => m.table) ?? [];
    message = err instanceof Error ? (err.cause instanceof Error ? err.cause.message : err.message) : String(err);
    message += `; the scratch database ${scratch}, if it was created, is kept for investigation: drop it when done`;
  }
  const ok = report !== undefined;
  await quick.recordVerification({ profile: input.profile, fromBase: target.fromBase, toLsn: target.toLsn, ok, mismatches });
  return { ok, fromBase: target.fromBase, toLsn: target.toLsn, mismatches, message };
}
