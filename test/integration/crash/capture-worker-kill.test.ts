/**
 * Capture survives SIGKILLed workers: the worker runs as its own OS process (`bin/pgincr
 * worker`), is killed at random points while a pgbench-like workload runs, and a new one takes
 * over (Temporal retries the capture activity after its heartbeat timeout). Every committed
 * transaction is in the segments exactly once, and the restore equals the source.
 */
import { startCluster, type PgCluster } from '../../helpers/pg-cluster';
import { waitFor } from '../../helpers/pgincr-env';
import { CrashRig, currentLsn, delay, randomBetween, slotActivePid, waitSlotConfirms, Workload, type WorkerProcess } from './crash-rig';
import { captureRetries, checkChainAndRestore, finishCapture, preparePgbenchDatabase, runSetup, startCapture } from './capture-scenario';

jest.setTimeout(240_000);

const KILLS = 2;

describe('capture crash: SIGKILLed worker', () => {
  let pg: PgCluster;
  let rig: CrashRig;
  let workload: Workload | undefined;

  beforeAll(async () => {
    pg = await startCluster();
    await preparePgbenchDatabase(pg, 'app');
    rig = await CrashRig.create(pg, 'app', 'capture-kill');
  }, 120_000);
  afterAll(async () => {
    await workload?.stop();
    await rig?.close();
    await pg?.stop();
  }, 60_000);

  it('writes every committed transaction exactly once across worker kills, and restores to the source', async () => {
    let worker: WorkerProcess = await rig.startWorker();
    expect((await runSetup(rig)).status).toBe('set up');

    workload = new Workload(pg, 'app', { clients: 2, pauseMs: 5 }).start();
    const capture = await startCapture(rig);
    const kills: { afterCommitted: number; delayMs: number }[] = [];
    for (let i = 0; i < KILLS; i++) {
      await waitFor('the capture to stream (slot active)', async () => (await slotActivePid(pg)) !== null, 120_000);
      await workload.advance(50);
      const delayMs = randomBetween(300, 4000);
      await delay(delayMs); // a random kill point, not a stand-in for a condition
      await rig.kill(worker);
      kills.push({ afterCommitted: workload.committed.size, delayMs });
      const afterKill = await currentLsn(pg, 'app');
      // The replacement bundles its workflows while the server waits out the heartbeat timeout.
      worker = await rig.startWorker();
      // Resumed: the new worker's capture has written past the kill point.
      await waitSlotConfirms(pg, afterKill, 120_000);
    }
    await workload.advance(50);
    const status = await finishCapture(rig, workload, capture);
    expect(status.state).toBe('stopped');
    expect(workload.committed.size).toBeGreaterThan(200);
    expect(workload.inDoubt.size).toBe(0);
    // At least one kill hit a running capture activity (retried on the new worker).
    expect(await captureRetries(capture)).toBeGreaterThanOrEqual(1);

    await checkChainAndRestore(rig, workload, 'app_restored');
    process.stderr.write(`capture-worker-kill: ${workload.committed.size} transactions, kills ${JSON.stringify(kills)}\n`);
  });
});
