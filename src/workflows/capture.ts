import {
  CancellationScope,
  condition,
  continueAsNew,
  isCancellation,
  log,
  makeContinueAsNewFunc,
  patched,
  setCurrentDetails,
  setHandler,
  upsertMemo,
  workflowInfo,
  allHandlersFinished,
  proxySinks,
} from '@temporalio/workflow';
import { capture, quick } from './activity-options';
import { captureInput, type CaptureInput } from './inputs';
import { parseInput } from './validate';
import { captureStatusQuery, pauseSignal, resumeSignal, rotateSignal, stopSignal } from './signals';
import { CAPTURE_STATE_MEMO, DURABLE_LSN_MEMO, type CaptureStatus, type FaultSinks } from './boundary';

const { faults } = proxySinks<FaultSinks>();

/**
 * Continuous capture: run the streaming activity for a bounded time, loop, and continue-as-new
 * with the durable LSN to keep history small. Signals act within seconds while the activity
 * runs: rotate writes the request file the activity polls, pause and stop cancel the activity
 * (stop then seals the current segment), resume starts the next run. Query: status.
 * The UI shows the durable LSN: in the workflow's current details (live, under the summary line
 * the input carries to every run) and in its memo (`pgincrDurableLsn`, after every run; also what
 * `describe()` and list filters return). The search attributes are carried by the server.
 */
export async function captureWorkflow(raw: CaptureInput): Promise<CaptureStatus> {
  const input = parseInput(captureInput, raw, 'captureWorkflow');
  const status: CaptureStatus = {
    state: input.paused ? 'paused' : 'running',
    lastDurableLsn: input.lastDurableLsn ?? null,
    iterations: input.iterations,
    transactions: 0,
    changes: 0,
    bytes: 0,
    segmentsSealed: 0,
    lastRunEndedAt: null,
  };
  let scope: CancellationScope | undefined;
  let pendingRotation = false;

  setHandler(captureStatusQuery, () => status);
  // A database name may hold any character but NUL, and the UI renders details as Markdown: one
  // line, with no link, image, HTML or emphasis whatever it holds.
  const summaryLine = input.summary?.replace(/[\u0000-\u001f\u007f]/g, ' ').replace(/[\\`*[\]<>!]/g, '\\$&');
  // Shown by the UI on the workflow's page (not in history: free to change at any time). The
  // summary line first: a continued run has no static summary of its own.
  const showDetails = () =>
    setCurrentDetails(
      `${summaryLine ? `${summaryLine}\n\n` : ''}**${status.state}** · durable LSN ${status.lastDurableLsn ?? '(none yet)'} · run ${status.iterations + (status.state === 'running' ? 1 : 0)}` +
        ` · ${status.transactions} transactions, ${status.segmentsSealed} segments sealed since this execution began` +
        `${status.lastRunEndedAt ? ` · last run ended ${status.lastRunEndedAt}` : ''}`,
    );
  let memoLsn: string | null | undefined = workflowInfo().memo?.[DURABLE_LSN_MEMO] as string | null | undefined;
  const recordDurable = () => {
    showDetails();
    // A memo upsert is a history event: behind a patch, so captures running older code replay.
    if (status.lastDurableLsn !== null && status.lastDurableLsn !== memoLsn && patched('capture-memo')) {
      upsertMemo({ [DURABLE_LSN_MEMO]: status.lastDurableLsn });
      memoLsn = status.lastDurableLsn;
    }
  };
  // Paused or running, in the memo: what `describe()` shows of a RUNNING execution that streams
  // nothing. A history event: behind a patch, so captures running older code replay.
  const recordPaused = () => {
    if (patched('capture-state-memo')) upsertMemo({ [CAPTURE_STATE_MEMO]: status.state });
  };
  showDetails();
  setHandler(rotateSignal, async () => {
    // At once, while the capture activity runs: it polls the request file every second and
    // seals at its next rotation check. The file is durable: a request made while no activity
    // runs (paused, between runs, retrying) is taken by the next one. (Histories recorded before
    // this change took the request before the next activity run instead.)
    if (!patched('rotate-at-signal')) {
      pendingRotation = true;
      return;
    }
    try {
      await quick.requestRotation({ profile: input.profile });
    } catch (err) {
      // A failed request must not end the capture: ask again before the next run.
      log.warn('rotate request failed; asking again before the next capture run', { error: err instanceof Error ? err.message : String(err) });
      pendingRotation = true;
    }
  });
  setHandler(pauseSignal, () => {
    if (status.state === 'running') {
      status.state = 'paused';
      scope?.cancel();
      showDetails();
      recordPaused();
    }
  });
  setHandler(resumeSignal, () => {
    if (status.state === 'paused') {
      status.state = 'running';
      showDetails();
      recordPaused();
    }
  });
  setHandler(stopSignal, () => {
    status.state = 'stopping';
    scope?.cancel();
    showDetails();
  });

  const runsThisExecution = () => status.iterations - input.iterations;
  // Signal handlers change the state between awaits; read it through a function so the
  // compiler does not narrow it.
  const state = (): CaptureStatus['state'] => status.state;
  while (state() !== 'stopping') {
    if (state() === 'paused') {
      await condition(() => status.state !== 'paused');
      continue;
    }
    if (pendingRotation) {
      pendingRotation = false;
      await quick.requestRotation({ profile: input.profile });
    }
    scope = new CancellationScope();
    try {
      const result = await scope.run(() =>
        capture.captureChanges({
          profile: input.profile,
          lastDurableLsn: status.lastDurableLsn ?? undefined,
          runForMs: input.runForMs,
        }),
      );
      status.lastDurableLsn = result.lastDurableLsn;
      status.transactions += result.transactions;
      status.changes += result.changes;
      status.bytes += result.bytes;
      status.segmentsSealed += result.segmentsSealed;
      if (result.refusedRows) status.refusedRows = (status.refusedRows ?? 0) + result.refusedRows;
    } catch (err) {
      if (!isCancellation(err)) throw err;
    } finally {
      scope = undefined;
    }
    status.iterations += 1;
    status.lastRunEndedAt = new Date().toISOString();
    recordDurable();
    if (input.maxIterations > 0 && status.iterations >= input.maxIterations) status.state = 'stopping';
    if (state() !== 'stopping' && (workflowInfo().continueAsNewSuggested || runsThisExecution() >= input.runsPerExecution)) {
      await condition(allHandlersFinished);
      // The memo (durable LSN) is not carried over by the server: pass it on.
      const memo = workflowInfo().memo;
      const next = memo && Object.keys(memo).length ? makeContinueAsNewFunc<typeof captureWorkflow>({ memo }) : continueAsNew<typeof captureWorkflow>;
      faults.point('mid-continue-as-new');
      await next({
        ...input,
        lastDurableLsn: status.lastDurableLsn ?? undefined,
        paused: state() === 'paused',
        iterations: status.iterations,
      });
    }
  }
  // A last short run records the sequence positions into the stream and seals the segment.
  const last = await capture.captureChanges({
    profile: input.profile,
    lastDurableLsn: status.lastDurableLsn ?? undefined,
    runForMs: 500,
    stopping: true,
  });
  status.lastDurableLsn = last.lastDurableLsn;
  status.transactions += last.transactions;
  status.changes += last.changes;
  status.segmentsSealed += last.segmentsSealed;
  if (last.refusedRows) status.refusedRows = (status.refusedRows ?? 0) + last.refusedRows;
  await quick.sealCurrentSegment({ profile: input.profile });
  status.state = 'stopped';
  recordDurable();
  return status;
}
