import { executeChild, workflowInfo } from '@temporalio/workflow';
import { quick, long } from './activity-options';
import { verifyInput, type VerifyInput } from './inputs';
import { parseInput } from './validate';
import { workflowIds } from './ids';
import { childSearchAttributes } from './labels';
import { ensureCoverage } from './coverage';
import type { restoreWorkflow, RestoreReport } from './restore';
import { parseSelection, selectionNames } from '../core/restore/table-selection';

export interface VerifyReport {
  ok: boolean;
  fromBase: string | null;
  toLsn: string | null;
  mismatches: string[];
  message: string;
  /** A partial verification (`tables`/`schemas`): the tables compared (display form). */
  tables?: string[];
}

/**
 * Proof that the chain restores: restore a base plus segments up to a later recorded checkpoint
 * (the next base's snapshot, or a fresh checkpoint) into a scratch database, compare with that
 * checkpoint's checksums exactly, drop the scratch database, record the result in the catalog.
 * A failed verification keeps the scratch database (named in the message) for investigation.
 * The point must be reachable by sealed segments: if it is not yet, a marker transaction and a
 * rotation make the running capture seal one; without a running capture the report says so
 * (not ok, nothing recorded: no restore was tried).
 * With `tables`/`schemas`, the scratch restore is a partial one and only the tables it kept are
 * compared (a partial restore's proof); recorded with those tables, it does not count as the
 * chain's verification in the health check.
 */
export async function verifyWorkflow(raw: VerifyInput): Promise<VerifyReport> {
  const input = parseInput(verifyInput, raw, 'verifyWorkflow');
  const selection = input.tables.length > 0 || input.schemas.length > 0 ? parseSelection(input.tables, input.schemas) : undefined;
  const partialInput = selection ? { tables: input.tables, schemas: input.schemas } : {};
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
  let refusedByPlan = false;
  try {
    report = await executeChild<typeof restoreWorkflow>('restoreWorkflow', {
      workflowId: workflowIds.verifyRestore(workflowInfo().workflowId, scratch),
      staticSummary: `verification restore into ${scratch} · to commit lsn <= ${target.toLsn} · from base ${target.fromBase}${selection ? ` · tables ${selectionNames(selection).join(', ')}` : ''}`,
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
          ...partialInput,
        },
      ],
    });
  } catch (err) {
    const details = (err as { cause?: { details?: unknown[] } }).cause?.details?.[0] as { mismatches?: { table: string }[] } | undefined;
    mismatches = details?.mismatches?.map((m) => m.table) ?? [];
    // The innermost cause says what failed (an activity's error inside the child's failure).
    let inner: unknown = err;
    while (inner instanceof Error && inner.cause instanceof Error) inner = inner.cause;
    refusedByPlan = (inner as { type?: string }).type === 'PlanError';
    message = inner instanceof Error ? inner.message : String(err);
    message += `; the scratch database ${scratch}, if it was created, is kept for investigation: drop it when done`;
  }
  const ok = report !== undefined;
  // A partial verification whose names the plan refused restored nothing: not a verification of the chain, not recorded.
  if (selection && refusedByPlan)
    return { ok, fromBase: target.fromBase, toLsn: target.toLsn, mismatches, message: message.split('; the scratch database')[0] ?? message };
  // The tables compared: those the partial restore kept (partitions and schemas' tables included), else the names asked for.
  const tables = selection ? (report?.partial?.tables ?? selectionNames(selection)) : undefined;
  const sequences = report?.verify?.sequences ? ` and ${report.verify.sequences} sequence(s)` : '';
  if (ok && tables) message = `verified ${report?.verify?.tables ?? 0} table(s)${sequences} only: ${tables.join(', ')}`;
  await quick.recordVerification({ profile: input.profile, fromBase: target.fromBase, toLsn: target.toLsn, ok, mismatches, ...(tables ? { tables } : {}) });
  return { ok, fromBase: target.fromBase, toLsn: target.toLsn, mismatches, message, ...(tables ? { tables } : {}) };
}
