/**
 * The shared shape of the capture crash tests: a pgbench database, setup through Temporal, a
 * workload and a capture workflow running while `disrupt` breaks things, then stop, then the
 * checks: every committed transaction exactly once in the segments, and the restore equals the
 * source.
 */
import { execFileSync } from 'node:child_process';
import type { WorkflowHandle } from '@temporalio/client';
import type { PgCluster } from '../../helpers/pg-cluster';
import { tableSums } from '../../helpers/workload';
import type { SetupResult } from '../../../src/workflows/setup';
import type { RestoreReport } from '../../../src/workflows/restore';
import { stopSignal, type CaptureStatus } from '../../../src/workflows/signals';
import { CRASH_LOG_DDL, type CrashRig, currentLsn, exactlyOnceProblems, segmentKeyCounts, waitSlotConfirms, type Workload } from './crash-rig';

/** pgbench tables (scale 1) and the keyless log table. */
export async function preparePgbenchDatabase(pg: PgCluster, db: string): Promise<void> {
  await pg.createDatabase(db);
  execFileSync('pgbench', ['-i', '-s', '1', '-q', db], { env: { ...process.env, ...pg.env(db) }, stdio: 'pipe' });
  await pg.query(CRASH_LOG_DDL, [], db);
}

export async function runSetup(rig: CrashRig): Promise<SetupResult> {
  return (await rig.client.workflow.execute('setupWorkflow', {
    taskQueue: rig.taskQueue,
    workflowId: rig.workflowId('setup'),
    args: [{ profile: 'default', startCapture: false }],
  })) as SetupResult;
}

export async function startCapture(rig: CrashRig, runForMs = 5000): Promise<WorkflowHandle> {
  return rig.client.workflow.start('captureWorkflow', {
    taskQueue: rig.taskQueue,
    workflowId: rig.workflowId('capture'),
    args: [{ profile: 'default', runForMs }],
  });
}

/** Stops the workload, waits for the capture to catch up, stops the capture (seal). */
export async function finishCapture(rig: CrashRig, workload: Workload, capture: WorkflowHandle): Promise<CaptureStatus> {
  await workload.stop();
  await waitSlotConfirms(rig.pg, await currentLsn(rig.pg, rig.db));
  await capture.signal(stopSignal);
  return (await capture.result()) as CaptureStatus;
}

/** Capture activity attempts beyond the first, from the workflow's history (retries after a crash). */
export async function captureRetries(capture: WorkflowHandle): Promise<number> {
  const history = await capture.fetchHistory();
  return (history.events ?? []).filter((e) => (e.activityTaskStartedEventAttributes?.attempt ?? 1) > 1).length;
}

/** The crash_log keys in a database (sorted). */
export async function dbKeys(pg: PgCluster, db: string): Promise<number[]> {
  const rows = await pg.query<{ k: number }>('SELECT k FROM crash_log ORDER BY k', [], db);
  return rows.map((r) => r.k);
}

/**
 * The segments of a stopped capture hold every committed transaction exactly once, and
 * exactly the source's crash_log keys. Returns the source's keys.
 */
export async function checkChain(rig: CrashRig, workload: Workload): Promise<number[]> {
  const counts = await segmentKeyCounts(rig.chainDir());
  expect(exactlyOnceProblems(counts, workload)).toEqual([]);
  const sourceKeys = await dbKeys(rig.pg, rig.db);
  expect([...counts.keys()].sort((a, b) => a - b)).toEqual(sourceKeys);
  return sourceKeys;
}

/** The restored database equals the source: table checksums, and crash_log has no duplicate. */
export async function checkRestored(rig: CrashRig, targetDb: string): Promise<void> {
  expect(await tableSums(rig.pg, targetDb)).toEqual(await tableSums(rig.pg, rig.db));
  const duplicates = await rig.pg.query('SELECT k, count(*)::int AS n FROM crash_log GROUP BY k HAVING count(*) > 1', [], targetDb);
  expect(duplicates).toEqual([]);
  expect(await dbKeys(rig.pg, targetDb)).toEqual(await dbKeys(rig.pg, rig.db));
}

/** {@link checkChain}, then a restore through Temporal equals the source. */
export async function checkChainAndRestore(rig: CrashRig, workload: Workload, targetDb: string): Promise<RestoreReport> {
  await checkChain(rig, workload);
  const report = (await rig.client.workflow.execute('restoreWorkflow', {
    taskQueue: rig.taskQueue,
    workflowId: rig.workflowId(`restore-${targetDb}`),
    args: [{ profile: 'default', targetProfile: 'admin', targetDb }],
  })) as RestoreReport;
  await checkRestored(rig, targetDb);
  return report;
}
