import { ParentClosePolicy, startChild, workflowInfo, WorkflowIdReusePolicy } from '@temporalio/workflow';
import { long, quick } from './activity-options';
import { setupInput, type SetupInput } from './inputs';
import { parseInput } from './validate';
import { nonRetryable } from './boundary';
import { workflowIds } from './ids';
import { chainName, childSearchAttributes, upsertChain } from './labels';
import type { BaseResult, PreflightResult } from '../activities/types';

const labels = (typedSearchAttributes: ReturnType<typeof childSearchAttributes>) => (typedSearchAttributes ? { typedSearchAttributes } : {});

export interface SetupResult {
  status: 'set up' | 'already set up';
  chainDir: string;
  preflight: PreflightResult;
  replicaIdentity: { table: string; action: string }[];
  base?: BaseResult;
  captureWorkflowId?: string;
}

/**
 * The initial setup runbook: preflight → capture schema → replica identity → publication →
 * slot + base from one snapshot → globals → metadata → (capture). Every step is idempotent,
 * so a retry or a re-run after a failure finishes the job without a second slot or base.
 */
export async function setupWorkflow(raw: SetupInput): Promise<SetupResult> {
  const input = parseInput(setupInput, raw, 'setupWorkflow');
  const { profile } = input;

  const preflight = await quick.preflight({ profile });
  if (!preflight.ready) {
    // Each failed check with its fix: the workflow's failure message is all a person may see.
    const failed = preflight.findings.filter((f) => f.status === 'fail').map((f) => (f.hint ? `${f.message} (hint: ${f.hint})` : f.message));
    throw nonRetryable(`not ready for setup: ${failed.join('; ')}`, 'NotReadyError', preflight);
  }

  let state = await quick.inspectSetup({ profile });
  upsertChain(chainName(state.chainDir)); // the chain's folder name, known from the source's identity
  if (state.alreadySetUp && !input.newChain) {
    return { status: 'already set up', chainDir: state.chainDir, preflight, replicaIdentity: [] };
  }
  // A lost slot (max_slot_wal_keep_size exceeded) cannot stream again: drop it, take a new base.
  if (input.newChain || state.slotLost) await quick.dropChainSlot({ profile });

  await quick.installCaptureSchema({ profile });
  const replicaIdentity = await quick.fixReplicaIdentity({ profile });
  await quick.ensurePublication({ profile });
  const base = await long.takeBase({ profile, temporarySlot: false });
  await long.dumpGlobals({ profile, baseId: base.baseId });
  await quick.writeMetadata({ profile, baseId: base.baseId });
  state = await quick.inspectSetup({ profile });

  let captureWorkflowId: string | undefined;
  if (input.startCapture) {
    captureWorkflowId = workflowIds.capture(profile, state.slot);
    const summary = `capture ${state.database} · slot ${state.slot} · profile ${profile}`;
    try {
      await startChild('captureWorkflow', {
        workflowId: captureWorkflowId,
        // The summary in the input too: every continued run shows it (captureWorkflow).
        args: [{ profile, lastDurableLsn: base.lsn, summary }],
        parentClosePolicy: ParentClosePolicy.ABANDON,
        workflowIdReusePolicy: WorkflowIdReusePolicy.ALLOW_DUPLICATE,
        taskQueue: workflowInfo().taskQueue,
        staticSummary: summary,
        ...labels(childSearchAttributes('capture', { chain: chainName(state.chainDir) })),
      });
    } catch (err) {
      // A capture already running for this slot is what we want.
      if (!(err instanceof Error && err.name === 'WorkflowExecutionAlreadyStartedError')) throw err;
    }
  }
  return { status: 'set up', chainDir: state.chainDir, preflight, replicaIdentity, base, captureWorkflowId };
}
