/**
 * SIGKILLed workers. Workers run as their own OS processes (`bin/pgincr worker --config FILE`);
 * a standby always polls the same task queue, and a replacement starts after each kill.
 *
 * 1. Capture: the worker running the capture activity is killed at random points while a
 *    pgbench-like workload runs; Temporal retries the activity on the standby after the
 *    heartbeat timeout. Every committed transaction is in the segments exactly once.
 * 2. Restore (of that chain, many small segments): the worker running `applySegments` is
 *    killed at a random point part way; the retry resumes from the target's replication
 *    origin. The restored database equals the source exactly (`crash_log` has no key, so a
 *    transaction applied twice would show as a duplicate).
 */
import type { WorkflowHandle } from '@temporalio/client';
import type { Client as PgClient } from 'pg';
import { startCluster, type PgCluster } from '../../helpers/pg-cluster';
import { waitFor } from '../../helpers/pgincr-env';
import { listSealedSegments, verifySegmentFile } from '../../../src/adapters/fs/segment-files';
import { formatLsn, parseLsn } from '../../../src/core/lsn';
import type { RestoreReport } from '../../../src/workflows/restore';
import { CrashRig, currentLsn, delay, randomBetween, timer, waitForValue, waitSlotConfirms, Workload, type WorkerProcess } from './crash-rig';
import { captureRetries, checkChain, checkRestored, finishCapture, preparePgbenchDatabase, runSetup, startCapture } from './capture-scenario';

jest.setTimeout(240_000);

const CAPTURE_KILLS = Number(process.env.PGINCR_TEST_CRASHES ?? 1);

/** The restore origin's in-memory progress (moves at each applied batch's commit), or 0. */
async function originLsn(admin: PgClient): Promise<bigint> {
  const r = await admin.query<{ lsn: string | null }>(
    "SELECT max(remote_lsn)::text AS lsn FROM pg_replication_origin_status WHERE external_id LIKE 'pgincr_restore_%'",
  );
  const text = r.rows[0]?.lsn;
  return text ? parseLsn(text) : 0n;
}

/** Activity attempts recorded in a workflow's history (the last attempt of each activity). */
async function startedAttempts(handle: WorkflowHandle): Promise<number[]> {
  const history = await handle.fetchHistory();
  return (history.events ?? []).flatMap((e) => (e.activityTaskStartedEventAttributes ? [e.activityTaskStartedEventAttributes.attempt ?? 1] : []));
}

describe('crash: SIGKILLed workers', () => {
  let pg: PgCluster;
  let rig: CrashRig;
  let admin: PgClient | undefined;
  let workload: Workload | undefined;
  let standby: Promise<WorkerProcess> | undefined;
  const mark = timer();
  let captureDone = false;

  /** Starts a worker without waiting; `standby` is awaited before the next kill. */
  const startStandby = () => {
    standby = rig.startWorker();
    standby.catch(() => undefined);
  };

  beforeAll(async () => {
    pg = await startCluster();
    await preparePgbenchDatabase(pg, 'app');
    rig = await CrashRig.create(pg, 'app', 'worker-kill', { capture: { segmentMaxBytes: 16 * 1024 } });
  }, 120_000);
  afterAll(async () => {
    await workload?.stop();
    await admin?.end().catch(() => undefined);
    await rig?.close();
    await pg?.stop();
    process.stderr.write(`crash/worker-kill timings: ${mark.report()}\n`);
  }, 60_000);

  it('capture writes every committed transaction exactly once across worker kills', async () => {
    await rig.startWorker();
    startStandby();
    mark('worker');
    expect((await runSetup(rig)).status).toBe('set up');
    mark('setup');

    workload = new Workload(pg, 'app', { clients: 2, pauseMs: 20 }).start();
    const capture = await startCapture(rig);
    const kills: { afterCommitted: number; delayMs: number; attempt: number }[] = [];
    for (let i = 0; i < CAPTURE_KILLS; i++) {
      await standby;
      await workload.advance(50);
      const delayMs = randomBetween(300, 4000);
      await delay(delayMs); // a random kill point, not a stand-in for a condition
      const running = await waitForValue('a worker running the capture activity', () => rig.workerRunning(capture, 'captureChanges'), 120_000, 100);
      await rig.kill(running.worker);
      mark(`capture kill ${i + 1}`);
      kills.push({ afterCommitted: workload.committed.size, delayMs, attempt: running.activity.attempt });
      startStandby();
      // Resumed on the standby (after the heartbeat timeout): the capture writes past the kill.
      await waitSlotConfirms(pg, await currentLsn(pg, 'app'), 120_000);
      mark(`resumed ${i + 1}`);
    }
    // Enough transactions for the restore test below to have a chain (10 or more segments of
    // 16 KiB) long enough to kill its apply part way; how many the kill loop above left depends
    // on the machine's speed and the random kill points.
    await workload.advance(Math.max(50, 1800 - workload.committed.size), 120_000);
    // ... and on until that many are sealed (CI once had 8 after 1800: sizes vary with the kills' timing), bounded.
    for (let round = 0; round < 20 && (await listSealedSegments(rig.chainDir())).length < 10; round++) await workload.advance(200, 120_000);
    const status = await finishCapture(rig, workload, capture);
    mark('capture stopped');
    expect(status.state).toBe('stopped');
    expect(workload.committed.size).toBeGreaterThan(200);
    expect(workload.inDoubt.size).toBe(0);
    // At least one kill hit a running capture activity (retried on another worker).
    expect(await captureRetries(capture)).toBeGreaterThanOrEqual(1);
    await checkChain(rig, workload);
    captureDone = true;
    process.stderr.write(`crash/worker-kill capture: ${workload.committed.size} transactions, kills ${JSON.stringify(kills)}\n`);
  });

  it('restore applies every transaction exactly once across a worker kill during applySegments', async () => {
    if (!captureDone) throw new Error('needs the chain of the capture test above, which failed');
    const sealed = await listSealedSegments(rig.chainDir());
    // Long enough to kill the apply part way (the wait below also fails if it finished first).
    expect(sealed.length).toBeGreaterThanOrEqual(10);
    const baseLsn = (sealed[0] as { startLsn: bigint }).startLsn; // the base's LSN
    const endLsn = (sealed.at(-1) as { endLsn: bigint }).endLsn;
    let chainTransactions = 0;
    for (const s of sealed) chainTransactions += (await verifySegmentFile(s.path)).scan.transactions.length;

    await standby; // alive to take over the apply
    admin = await pg.connect('postgres');
    const restore = await rig.client.workflow.start('restoreWorkflow', {
      taskQueue: rig.taskQueue,
      workflowId: rig.workflowId('restore'),
      args: [{ profile: 'default', targetProfile: 'admin', targetDb: 'app_restored' }],
    });
    const running = await waitForValue('a worker running applySegments', () => rig.workerRunning(restore, 'applySegments'), 180_000, 50);
    mark('applying');
    // A random point part way: some batches committed in the target, not all.
    const killPoint = baseLsn + ((endLsn - baseLsn) * BigInt(randomBetween(5, 60))) / 100n;
    let atKill = 0n;
    await waitFor(
      `the restore origin to pass ${formatLsn(killPoint)}`,
      async () => {
        atKill = await originLsn(admin as PgClient);
        if (atKill >= endLsn) throw new Error(`applySegments finished (origin at ${formatLsn(atKill)}) before the kill: make the chain longer`);
        return atKill >= killPoint;
      },
      120_000,
      5,
    );
    await rig.kill(running.worker);
    mark('restore kill');
    expect(atKill).toBeLessThan(endLsn);
    // Temporal notices a dead worker by the heartbeat timeout (2 minutes for this activity
    // class); failing the dead attempt by id stands in for that wait. The retry (after the
    // retry policy's backoff) runs on the standby worker.
    await rig.client.activity.fail(
      { workflowId: restore.workflowId, activityId: running.activity.activityId },
      new Error('worker SIGKILLed by the crash test'),
    );

    const report = (await restore.result()) as RestoreReport;
    mark('restored');
    expect(Math.max(...(await startedAttempts(restore)))).toBeGreaterThanOrEqual(2);
    // The retry skipped what the killed attempt had committed.
    expect(report.apply.appliedTransactions).toBeLessThan(chainTransactions);
    await checkRestored(rig, 'app_restored');
    process.stderr.write(
      `crash/worker-kill restore: ${sealed.length} segments, ${chainTransactions} transactions, killed at ${formatLsn(atKill)} of ${formatLsn(endLsn)}, retry applied ${report.apply.appliedTransactions}\n`,
    );
  });
});
