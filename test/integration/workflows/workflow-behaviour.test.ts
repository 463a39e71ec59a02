/**
 * Workflow behaviour as workflow behaviour: every pgincr workflow on the real Temporal dev
 * server with stub activities (test/fixtures/workflows/stub-activities.ts), so what is asserted
 * is the workflows' own logic — signals acting while the capture activity runs, continue-as-new
 * carrying the state, the verify-failure path, restore retries — and the UI labels they carry.
 *
 * With PGINCR_RECORD_HISTORIES=1 (scripts/record-histories) each case also writes its histories
 * to test/fixtures/histories/, which test/unit/workflows/replay.test.ts replays against the
 * current workflow code (docs/workflows.md, "Replay tests").
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { WorkflowFailedError, type WorkflowHandle } from '@temporalio/client';
import { ActivityFailure, ApplicationFailure } from '@temporalio/common';
import { setupTemporal, temporalAddress } from '../../helpers/temporal';
import { findTemporalBinary } from '../../../src/dev/temporal-dev-server';
import { waitFor } from '../../helpers/pgincr-env';
import { captureLsn, nonRetryableStub, stubActivities, type Stubs } from '../../fixtures/workflows/stub-activities';
import { captureStatusQuery, pauseSignal, resumeSignal, rotateSignal, stopSignal } from '../../../src/workflows/signals';
import { CAPTURE_STATE_MEMO, captureStatus, decodeResult, DURABLE_LSN_MEMO, searchAttributes, type CaptureStatus } from '../../../src/workflows/boundary';
import type { RestoreReport } from '../../../src/workflows/restore';
import type { VerifyReport } from '../../../src/workflows/verify';
import type { SetupResult } from '../../../src/workflows/setup';

jest.setTimeout(180_000);

/** "Within seconds": a signal's effect on the running activity (cancellation rides on its next heartbeat). */
const WITHIN_MS = 15_000;
const RECORD = process.env.PGINCR_RECORD_HISTORIES === '1';
const HISTORIES = join(__dirname, '../../fixtures/histories');

describe('workflows on the real dev server with stub activities', () => {
  const temporal = setupTemporal({ workflowsPath: require.resolve('../../../src/workflows') });

  /** Writes every run of `handle`'s workflow (oldest first) as `<name>[-run<N>].json` when recording. */
  async function record(handle: WorkflowHandle, name: string): Promise<void> {
    if (!RECORD) return;
    mkdirSync(HISTORIES, { recursive: true });
    const runs: string[] = [];
    for (let runId: string | undefined = (await handle.describe()).runId; runId;) {
      runs.unshift(runId);
      // Walk back through continue-as-new: the first event of a run names the run it continued.
      const history = await temporal.client.workflow.getHandle(handle.workflowId, runId).fetchHistory();
      runId = history.events?.[0]?.workflowExecutionStartedEventAttributes?.continuedExecutionRunId || undefined;
    }
    for (const [i, runId] of runs.entries()) {
      // The CLI's JSON is the standard history format (historyFromJSON reads it; so do the UI's downloads).
      const json = execFileSync(
        findTemporalBinary(),
        [
          'workflow',
          'show',
          '--address',
          temporalAddress(),
          '--namespace',
          temporal.env.namespace ?? 'default',
          '-w',
          handle.workflowId,
          '-r',
          runId,
          '--output',
          'json',
        ],
        { maxBuffer: 64 << 20 },
      ).toString('utf8');
      const file = join(HISTORIES, `${name}${runs.length > 1 ? `-run${i + 1}` : ''}.json`);
      // The workflow id rides along: replay needs it (a child's id derives from it), the format has no place for it.
      writeFileSync(file, `${JSON.stringify({ workflowId: handle.workflowId, ...(JSON.parse(json) as object) }, null, 2)}\n`);
    }
  }

  const labels = (kind: string, database: string) => ({
    typedSearchAttributes: [
      { key: searchAttributes.kind, value: kind },
      { key: searchAttributes.database, value: [database] },
      { key: searchAttributes.chain, value: `7312000000000000001-${database}` },
    ],
    staticSummary: `${kind} ${database}`,
  });

  const startCapture = (stubs: Stubs, label: string, args: Record<string, unknown>) =>
    temporal.client.workflow.start('captureWorkflow', {
      taskQueue: temporal.taskQueue,
      workflowId: temporal.workflowId(label),
      args: [{ profile: 'default', ...args }],
      ...labels('capture', 'app'),
    });

  const status = async (handle: WorkflowHandle): Promise<CaptureStatus> => decodeResult(captureStatus, await handle.query(captureStatusQuery), 'status');

  it('capture: rotate, pause, resume and stop each act within seconds while the capture activity runs', async () => {
    const stubs = stubActivities();
    await temporal.run(
      async () => {
        const handle = await startCapture(stubs, 'signals', {});
        await waitFor('the first capture run', async () => stubs.runningCaptures().length === 1, WITHIN_MS, 100);
        const first = stubs.of('captureChanges')[0]!;

        // rotate: the request is made at once, by the signal handler, while the run goes on
        await handle.signal(rotateSignal);
        await waitFor('the rotation request', async () => stubs.of('requestRotation').length === 1, WITHIN_MS, 100);
        expect(first.endedAt).toBeUndefined();
        expect(stubs.of('requestRotation')[0]!.startedAt).toBeGreaterThan(first.startedAt);

        // pause: the running activity is cancelled; no run starts until resume
        await handle.signal(pauseSignal);
        await waitFor('the run to be cancelled on pause', async () => first.outcome === 'cancelled', WITHIN_MS, 100);
        expect((await status(handle)).state).toBe('paused');
        const resumedAt = Date.now();
        await handle.signal(resumeSignal);
        await waitFor('a new run on resume', async () => stubs.runningCaptures().length === 1 && stubs.of('captureChanges').length === 2, WITHIN_MS, 100);
        expect(stubs.of('captureChanges')[1]!.startedAt).toBeGreaterThanOrEqual(resumedAt);
        expect((await status(handle)).state).toBe('running');

        // stop: the run is cancelled, a last short run records sequences, the segment is sealed
        await handle.signal(stopSignal);
        const stopped = (await Promise.race([
          handle.result(),
          new Promise((_, reject) => setTimeout(() => reject(new Error(`stop took more than ${WITHIN_MS} ms`)), WITHIN_MS)),
        ])) as CaptureStatus;
        expect(stopped.state).toBe('stopped');
        expect(stubs.of('captureChanges').map((c) => c.outcome)).toEqual(['cancelled', 'cancelled', 'ok']);
        expect(stubs.of('captureChanges')[2]!.input).toMatchObject({ stopping: true });
        expect(stubs.of('sealCurrentSegment')).toHaveLength(1);
        await record(handle, 'capture-signals');
      },
      { activities: stubs.activities },
    );
  });

  it('capture: continue-as-new carries the durable LSN, the run count, a pause, the labels and the summary line', async () => {
    // The first run ends by itself (its LSN is durable); later runs run until cancelled.
    const stubs = stubActivities({}, { captureRunMs: (run) => (run === 1 ? 50 : 60_000) });
    await temporal.run(
      async () => {
        // The summary line as a starter passes it, with a hostile database name (a line break, a Markdown link, HTML).
        const handle = await startCapture(stubs, 'can', {
          runsPerExecution: 1,
          summary: 'capture a[pp](https://x.example)\n<b> · slot pgincr · profile default',
        });
        const shown = 'capture a\\[pp\\](https://x.example) \\<b\\> · slot pgincr · profile default\n\n**';
        /** What the UI's workflow page shows as current details: the summary line first, on every run (a continued run has no static summary). */
        const details = async () =>
          (await temporal.client.workflow.getHandle(handle.workflowId).query<{ currentDetails?: string }>('__temporal_workflow_metadata')).currentDetails;
        await waitFor('the first run to show its summary line', async () => (await details())?.startsWith(shown) === true, WITHIN_MS, 100);
        const firstRunId = (await handle.describe()).runId;
        // run 1 returns → continue-as-new → run 2 starts with the LSN run 1 made durable
        await waitFor(
          "the second execution's capture run",
          async () => stubs.runningCaptures().length === 1 && stubs.of('captureChanges').length === 2,
          WITHIN_MS,
          100,
        );
        const durable = stubs.of('captureChanges')[0]!;
        expect(durable.outcome).toBe('ok');
        expect(stubs.of('captureChanges')[1]!.input).toMatchObject({ lastDurableLsn: captureLsn(1) });
        const second = await temporal.client.workflow.getHandle(handle.workflowId).describe();
        expect(second.runId).not.toBe(firstRunId);
        expect(second.memo?.[DURABLE_LSN_MEMO]).toBe(captureLsn(1));
        expect(second.typedSearchAttributes.get(searchAttributes.kind)).toBe('capture');
        expect(second.typedSearchAttributes.get(searchAttributes.database)).toEqual(['app']);
        expect(await second.staticSummary()).toBeUndefined(); // why the summary line rides in the input
        expect((await details())!.startsWith(shown)).toBe(true);

        // pause in the second execution: its run is cancelled, it continues as new, paused
        await handle.signal(pauseSignal);
        await waitFor(
          'a third execution',
          async () => (await temporal.client.workflow.getHandle(handle.workflowId).describe()).runId !== second.runId,
          WITHIN_MS,
          100,
        );
        const third = temporal.client.workflow.getHandle(handle.workflowId);
        const paused = await status(third);
        expect(paused).toMatchObject({ state: 'paused', iterations: 2, lastDurableLsn: captureLsn(1) });
        // The third run too: the summary line and every search attribute.
        expect(await details()).toMatch(
          /^capture a\\\[pp\\\]\(https:\/\/x\.example\) \\<b\\> · slot pgincr · profile default\n\n\*\*paused\*\* · durable LSN /,
        );
        const thirdRun = await third.describe();
        // Paused in the memo too (carried over): what `describe()` tells `pgincr check` and a restore's report.
        expect(thirdRun.memo?.[CAPTURE_STATE_MEMO]).toBe('paused');
        expect(thirdRun.typedSearchAttributes.get(searchAttributes.kind)).toBe('capture');
        expect(thirdRun.typedSearchAttributes.get(searchAttributes.database)).toEqual(['app']);
        expect(thirdRun.typedSearchAttributes.get(searchAttributes.chain)).toBe('7312000000000000001-app');
        expect(stubs.runningCaptures()).toHaveLength(0);

        await third.signal(resumeSignal);
        await waitFor('a run after resume', async () => stubs.runningCaptures().length === 1, WITHIN_MS, 100);
        expect(stubs.of('captureChanges')[2]!.input).toMatchObject({ lastDurableLsn: captureLsn(1) });
        expect((await third.describe()).memo?.[CAPTURE_STATE_MEMO]).toBe('running');
        await third.signal(stopSignal);
        expect(((await third.result()) as CaptureStatus).state).toBe('stopped');
        await record(third, 'capture-continue-as-new');
      },
      { activities: stubs.activities },
    );
  });

  it('restore: an activity retried after a transient failure keeps the restore identity; a refusal is not retried', async () => {
    const stubs = stubActivities({
      applySegments: async (input, call) => {
        // The first attempt loses its connection part way through.
        if (call.attempt === 1) throw Object.assign(new Error('Connection terminated unexpectedly'), { code: 'ECONNRESET' });
        return { appliedTransactions: 3, lastEndLsn: '0/1000300', reachedTarget: true };
      },
    });
    await temporal.run(
      async () => {
        const handle = await temporal.client.workflow.start('restoreWorkflow', {
          taskQueue: temporal.taskQueue,
          workflowId: temporal.workflowId('restore'),
          args: [{ profile: 'default', targetDb: 'app_copy', target: { kind: 'time', time: '2026-12-06 10:00:01.5+00' } }],
          ...labels('restore', 'app'),
        });
        const report = (await handle.result()) as RestoreReport;
        expect(report.target).toEqual({ kind: 'time', time: '2026-12-06T10:00:01.500000Z', inclusive: true });
        const attempts = stubs.of('applySegments');
        expect(attempts.map((c) => [c.attempt, c.outcome])).toEqual([
          [1, 'failed'],
          [2, 'ok'],
        ]);
        const ids = new Set(
          [...stubs.of('createTargetDatabase'), ...stubs.of('restoreBase'), ...attempts, ...stubs.of('finishRestore')].map((c) => c.input.restoreId),
        );
        expect(ids.size).toBe(1);
        expect(report.steps.map((s) => s.name)).toEqual(['plan', 'create database', 'base', 'segments', 'sequences', 'verify', 'finish']);
        await record(handle, 'restore-retried');
      },
      { activities: stubs.activities },
    );

    const refusing = stubActivities({
      createTargetDatabase: async ({ targetDb }) => {
        throw nonRetryableStub(`database "${targetDb}" already exists: restore into a new name, or drop it first`, 'TargetExistsError');
      },
    });
    await temporal.run(
      async () => {
        const handle = await temporal.client.workflow.start('restoreWorkflow', {
          taskQueue: temporal.taskQueue,
          workflowId: temporal.workflowId('restore-exists'),
          args: [{ profile: 'default', targetDb: 'app' }],
        });
        const failure = await handle.result().catch((e: unknown) => e);
        expect(failure).toBeInstanceOf(WorkflowFailedError);
        const cause = (failure as WorkflowFailedError).cause;
        expect(cause).toBeInstanceOf(ActivityFailure);
        expect((cause as ActivityFailure).cause).toMatchObject({ type: 'TargetExistsError', message: expect.stringContaining('"app" already exists') });
        expect(refusing.of('createTargetDatabase')).toHaveLength(1);
        expect(refusing.of('restoreBase')).toHaveLength(0);
        await record(handle, 'restore-target-exists');
      },
      { activities: refusing.activities },
    );
  });

  it('verify: a scratch restore that differs fails non-retryably, is recorded as failed and keeps the scratch database', async () => {
    const stubs = stubActivities({
      verifyTarget: async () => ({
        ok: false,
        compared: true,
        tables: 2,
        rowCounts: {},
        mismatches: [{ table: 'public.orders', expected: 'aa', actual: 'bb' }],
      }),
    });
    await temporal.run(
      async () => {
        const handle = await temporal.client.workflow.start('verifyWorkflow', {
          taskQueue: temporal.taskQueue,
          workflowId: temporal.workflowId('verify'),
          args: [{ profile: 'default', checkpoint: true }],
          ...labels('verify', 'app'),
        });
        const report = (await handle.result()) as VerifyReport;
        expect(report.ok).toBe(false);
        expect(report.mismatches).toEqual(['public.orders']);
        const scratch = stubs.of('createTargetDatabase')[0]!.input.targetDb as string;
        expect(report.message).toContain(`differs from the source in: public.orders`);
        expect(report.message).toContain(`the scratch database ${scratch}, if it was created, is kept`);
        expect(stubs.of('verifyTarget')).toHaveLength(1); // VerifyFailedError: not retried
        expect(stubs.of('finishRestore')).toHaveLength(0); // the scratch database stays
        expect(stubs.of('recordVerification').map((c) => c.input)).toEqual([
          { profile: 'default', fromBase: expect.any(String), toLsn: '0/2000000', ok: false, mismatches: ['public.orders'] },
        ]);
        // The scratch restore is labelled as the verification is, plus the scratch database.
        const children = temporal.client.workflow.list({ query: `WorkflowType = 'restoreWorkflow' AND PgincrDatabase = '${scratch}'` });
        let child: { summary?: string; databases?: string[] } | undefined;
        await waitFor(
          'the scratch restore in the visibility list',
          async () => {
            for await (const w of children) {
              const d = await temporal.client.workflow.getHandle(w.workflowId, w.runId).describe();
              child = { summary: await d.staticSummary(), databases: d.typedSearchAttributes.get(searchAttributes.database) };
            }
            return child !== undefined;
          },
          WITHIN_MS,
          250,
        );
        expect(child?.databases).toEqual(['app', scratch]);
        expect(child?.summary).toMatch(new RegExp(`^verification restore into ${scratch} · to commit lsn <= 0/2000000`));
        await record(handle, 'verify-failed');
      },
      { activities: stubs.activities },
    );
  });

  it('findTransactions: the JSON a person types runs the search activity once and returns its result', async () => {
    const stubs = stubActivities({});
    await temporal.run(
      async () => {
        const { client, taskQueue } = temporal;
        const handle = await client.workflow.start('findTransactionsWorkflow', {
          taskQueue,
          workflowId: temporal.workflowId('find-transactions'),
          args: [{ profile: 'default', tables: ['public.orders'], kinds: ['DELETE'], from: '2026-11-27 14:00:00+00' }],
        });
        expect(await handle.result()).toEqual({ chain: '/stub/default', transactions: [], limitReached: false });
        expect(stubs.of('findTransactions').map((c) => c.input)).toEqual([
          { profile: 'default', tables: ['public.orders'], kinds: ['DELETE'], from: '2026-11-27 14:00:00+00', limit: 100 },
        ]);
        await record(handle, 'find-transactions');
      },
      { activities: stubs.activities },
    );
  });

  it('setup, preflight, backups, retention and health run on stubs; setup labels the capture it starts', async () => {
    const stubs = stubActivities({}, { captureRunMs: 60_000 });
    await temporal.run(
      async () => {
        const { client, taskQueue } = temporal;
        const setup = await client.workflow.start('setupWorkflow', {
          taskQueue,
          workflowId: temporal.workflowId('setup'),
          args: [{ profile: 'default' }],
          ...labels('setup', 'db_default'),
        });
        const result = (await setup.result()) as SetupResult;
        expect(result.status).toBe('set up');
        const capture = client.workflow.getHandle(result.captureWorkflowId!);
        const described = await capture.describe();
        expect(await described.staticSummary()).toBe('capture db_default · slot pgincr · profile default');
        expect(described.typedSearchAttributes.get(searchAttributes.kind)).toBe('capture');
        expect(described.typedSearchAttributes.get(searchAttributes.chain)).toBe('7312000000000000001-db_default');
        await waitFor('the started capture to run', async () => stubs.runningCaptures().length === 1, WITHIN_MS, 100);
        await capture.signal(stopSignal);
        expect(((await capture.result()) as CaptureStatus).state).toBe('stopped');
        await record(setup, 'setup');
        await record(capture, 'capture-from-setup');

        for (const [type, name, args] of [
          ['preflightWorkflow', 'preflight', { profile: 'default' }],
          ['fullBackupWorkflow', 'full-backup', { profile: 'default' }],
          ['globalsBackupWorkflow', 'globals-backup', { profile: 'default' }],
          ['retentionWorkflow', 'retention', { profile: 'default', dryRun: true }],
          ['healthCheckWorkflow', 'health-check', { profile: 'default' }],
          ['verifyWorkflow', 'verify-ok', { profile: 'default' }],
        ] as const) {
          const handle = await client.workflow.start(type, { taskQueue, workflowId: temporal.workflowId(name), args: [args] });
          await handle.result();
          await record(handle, name);
        }
        expect(stubs.of('writeMarker').map((c) => c.input.kind)).toEqual(['full-backup']);
        expect(stubs.of('recordVerification').map((c) => c.input.ok)).toEqual([true]);

        // A bad input fails at once, non-retryably, naming the field.
        const bad = await client.workflow.start('restoreWorkflow', {
          taskQueue,
          workflowId: temporal.workflowId('bad-input'),
          args: [{ profile: 'default', targetDb: 'x', target: { kind: 'time', time: '2026-12-06 10:00:00' } }],
        });
        const failure = await bad.result().catch((e: unknown) => e);
        expect((failure as WorkflowFailedError).cause).toBeInstanceOf(ApplicationFailure);
        expect((failure as WorkflowFailedError).cause).toMatchObject({ type: 'ConfigError', message: expect.stringContaining('target.time') });
        await record(bad, 'restore-bad-input');
      },
      { activities: stubs.activities },
    );
  });
});
