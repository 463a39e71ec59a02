/**
 * Fault gauntlet, item 2 (issue 18): the Temporal server stops and starts again on the same
 * database file (`temporal server start-dev --db-filename`, src/dev/temporal-dev-server.ts) —
 * a server of this file's own, on its own port, not the shared test server — three times under
 * a pgbench-like load, with a real `pgincr worker` process:
 *
 * 1. during capture (the capture activity streams on while the server is down; its workflow
 *    carries on afterwards: new runs, continue-as-new);
 * 2. during a full backup's pg_dump (the workflow completes, the base is in the catalog);
 * 3. during a restore's segment step (the restore completes and equals the source).
 *
 * Throughout, the slot's acknowledged position never passes what is on disk: sampled while the
 * server is down and after, and checked against the final chain (fault-rig.ts, ackViolations).
 * Every committed xid is in exactly one BEGIN marker; every sealed footer verifies.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { WorkflowHandle } from '@temporalio/client';
import { startCluster, type PgCluster } from '../../helpers/pg-cluster';
import { TEST_NAMESPACE } from '../../helpers/temporal';
import { freePort, startDevServer, type DevServer, type DevServerOptions } from '../../../src/dev/temporal-dev-server';
import { loadCatalog } from '../../../src/adapters/fs/catalog-store';
import { captureStatusQuery } from '../../../src/workflows/signals';
import type { FullBackupResult } from '../../../src/workflows/full-backup';
import type { RestoreReport } from '../../../src/workflows/restore';
import { CrashRig, currentLsn, delay, timer, waitForValue, waitSlotConfirms, Workload } from '../crash/crash-rig';
import { checkRestored, finishCapture, preparePgbenchDatabase, runSetup } from '../crash/capture-scenario';
import { ackViolations, auditXids, chainTransactions, reportFault, sampleAck, type AckSample } from './fault-rig';
import { teardown, teardownTimeout } from '../../helpers/teardown';

jest.setTimeout(420_000);

/** How long the server stays down each time (the capture's heartbeat timeout is 20 s: shorter, so the running attempt survives). */
const DOWN_MS = 4000;

describe('fault: Temporal server restart', () => {
  let pg: PgCluster;
  let rig: CrashRig;
  let server: DevServer | undefined;
  let workload: Workload | undefined;
  const dir = mkdtempSync(join(tmpdir(), 'pgincr-temporal-restart-'));
  let serverOptions: DevServerOptions;
  const samples: AckSample[] = [];
  const recoveries: number[] = [];
  const mark = timer();

  beforeAll(async () => {
    pg = await startCluster();
    await preparePgbenchDatabase(pg, 'app');
    // Its own server, port and database file: restarting the shared test server would break every other file.
    serverOptions = {
      namespace: TEST_NAMESPACE,
      headless: true,
      port: await freePort(),
      dbFile: join(dir, 'temporal.db'),
      logFile: join(dir, 'temporal.log'),
    };
    server = await startDevServer(serverOptions);
    rig = await CrashRig.create(pg, 'app', 'temporal-restart', { capture: { segmentMaxBytes: 32 * 1024 }, temporalAddress: server.address });
  }, 180_000);
  afterAll(async () => {
    process.stderr.write(`temporal-restart timings: ${mark.report()}\n`);
    await teardown([
      ['stop the workload', () => workload?.stop()],
      ['close the rig (its workers)', () => rig?.close()],
      ['stop the Temporal server', () => server?.stop()],
      ['stop the cluster', () => pg?.stop()],
      ['remove the folder', () => process.env.PGINCR_KEEP_CRASH_DIR !== '1' && rmSync(dir, { recursive: true, force: true })],
    ]);
  }, teardownTimeout(5));

  /** Stops the server, samples the slot against the files while it is down, starts it again on the same file and port. */
  async function restartTemporal(label: string): Promise<void> {
    await server?.stop();
    server = undefined;
    const stoppedAt = Date.now();
    while (Date.now() - stoppedAt < DOWN_MS) {
      samples.push(await sampleAck(pg, rig.chainDir()));
      await delay(500); // the outage's length, not a stand-in for a condition
    }
    server = await startDevServer(serverOptions);
    mark(`${label}: server back after ${((Date.now() - stoppedAt) / 1000).toFixed(1)} s`);
  }

  const startedActivity = async (handle: WorkflowHandle, type: string) =>
    (await rig.pendingActivities(handle)).find((a) => a.type === type && a.started) ?? null;

  it('capture, full backup and restore carry on across restarts; the slot never acknowledges past the files', async () => {
    // TEMPORAL_ADDRESS (the shared server's, inherited from jest) overrides the config file's address.
    await rig.startWorker({ TEMPORAL_ADDRESS: server?.address });
    mark('worker');
    expect((await runSetup(rig)).status).toBe('set up');
    workload = new Workload(pg, 'app', { clients: 2, pauseMs: 5 }).start();
    // As a user starts it from the Temporal UI; short runs and continue-as-new every two, so both happen around the restarts.
    const capture = await rig.client.workflow.start('captureWorkflow', {
      taskQueue: rig.taskQueue,
      workflowId: rig.workflowId('capture'),
      args: [{ profile: 'default', runForMs: 3000, runsPerExecution: 2 }],
    });
    await workload.advance(100, 120_000);
    await waitSlotConfirms(pg, await currentLsn(pg, 'app'));
    mark('capturing');

    // 1. During capture.
    const before = await capture.query(captureStatusQuery);
    await restartTemporal('capture');
    const back = Date.now();
    const lsnBack = await currentLsn(pg, 'app');
    await waitSlotConfirms(pg, lsnBack, 120_000);
    recoveries.push(Date.now() - back);
    // The workflow carries on: later runs complete (a fresh handle: continue-as-new may have started a new run).
    const fresh = rig.client.workflow.getHandle(capture.workflowId);
    const after = await waitForValue(
      'the capture workflow to complete two more runs after the restart',
      async () => {
        const s = await fresh.query(captureStatusQuery);
        return s.iterations >= before.iterations + 2 ? s : null;
      },
      120_000,
      500,
    );
    expect(after.state).toBe('running');
    samples.push(await sampleAck(pg, rig.chainDir()));
    mark('capture carried on');

    // 2. During a full backup's pg_dump.
    const backup = await rig.client.workflow.start('fullBackupWorkflow', {
      taskQueue: rig.taskQueue,
      workflowId: rig.workflowId('full-backup'),
      args: [{ profile: 'default' }],
    });
    await waitForValue('the full backup to run takeBase', () => startedActivity(backup, 'takeBase'), 120_000, 100);
    await restartTemporal('full backup');
    const backupBack = Date.now();
    const base = (await backup.result()) as FullBackupResult;
    recoveries.push(Date.now() - backupBack);
    expect((await loadCatalog(rig.chainDir()))?.bases.map((b) => b.id)).toContain(base.baseId);
    mark('full backup done');

    // The restore below starts from this base: enough transactions after it for a segment step that lasts.
    await workload.advance(1500, 180_000);
    const status = await finishCapture(rig, workload, fresh);
    expect(status.state).toBe('stopped');
    mark('capture stopped');

    const chain = rig.chainDir();
    const audit = await auditXids(pg, 'app', chain);
    const violations = ackViolations(samples, await chainTransactions(chain));

    // 3. During a restore's segment step.
    let restoreEqual = false;
    let applyRestartedMidway = false;
    try {
      const restore = await rig.client.workflow.start('restoreWorkflow', {
        taskQueue: rig.taskQueue,
        workflowId: rig.workflowId('restore-app_restored'),
        args: [{ profile: 'default', targetProfile: 'admin', targetDb: 'app_restored' }],
      });
      await waitForValue('the restore to run applySegments', () => startedActivity(restore, 'applySegments'), 180_000, 50);
      applyRestartedMidway = true;
      await restartTemporal('restore');
      const restoreBack = Date.now();
      const report = (await restore.result()) as RestoreReport;
      recoveries.push(Date.now() - restoreBack);
      expect(report.apply.appliedTransactions).toBeGreaterThan(0);
      await checkRestored(rig, 'app_restored');
      restoreEqual = true;
      mark('restored');
    } finally {
      reportFault({
        fault: 'Temporal server restart',
        lost: audit.lost.length,
        doubled: audit.doubled.length,
        restoreEqual,
        recoverMs: Math.max(...recoveries, 0),
        detail: `3 restarts (capture, full backup, restore apply${applyRestartedMidway ? '' : ' not reached'}), ${DOWN_MS / 1000} s down each; ${samples.length} acknowledgement samples; ${workload.committed.size} transactions, ${audit.sealedVerified} sealed segments verified`,
      });
    }
    expect(violations).toEqual([]);
    expect(audit.lost).toEqual([]);
    expect(audit.doubled).toEqual([]);
    expect(samples.length).toBeGreaterThanOrEqual(3 * Math.floor(DOWN_MS / 1000));
  });
});
