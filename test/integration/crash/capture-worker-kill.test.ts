/**
 * Capture survives SIGKILLed workers: workers run as their own OS processes (`bin/pgincr
 * worker`); the one running the capture activity is killed at random points while a
 * pgbench-like workload runs, and the other takes over when Temporal retries the activity after
 * its heartbeat timeout (a replacement starts at once, to be the next standby). Every committed
 * transaction is in the segments exactly once, and the restore equals the source.
 */
import { startCluster, type PgCluster } from '../../helpers/pg-cluster';
import { CrashRig, currentLsn, delay, randomBetween, waitForValue, waitSlotConfirms, Workload } from './crash-rig';
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
    await Promise.all([rig.startWorker(), rig.startWorker()]);
    expect((await runSetup(rig)).status).toBe('set up');

    workload = new Workload(pg, 'app', { clients: 2, pauseMs: 10 }).start();
    const capture = await startCapture(rig);
    const kills: { afterCommitted: number; delayMs: number; attempt: number }[] = [];
    for (let i = 0; i < KILLS; i++) {
      await workload.advance(50);
      const delayMs = randomBetween(300, 4000);
      await delay(delayMs); // a random kill point, not a stand-in for a condition
      const running = await waitForValue('a worker running the capture activity',
        () => rig.workerRunning(capture, 'captureChanges'), 120_000, 100);
      await rig.kill(running.worker);
      kills.push({ afterCommitted: workload.committed.size, delayMs, attempt: running.activity.attempt });
      const afterKill = await currentLsn(pg, 'app');
      const replacement = rig.startWorker();
      replacement.catch(() => undefined); // awaited below
      // Resumed on the standby: the capture has written past the kill point.
      await waitSlotConfirms(pg, afterKill, 120_000);
      await replacement;
    }
    await workload.advance(50);
    const status = await finishCapture(rig, workload, capture);
    expect(status.state).toBe('stopped');
    expect(workload.committed.size).toBeGreaterThan(200);
    expect(workload.inDoubt.size).toBe(0);
    // At least one kill hit a running capture activity (retried on another worker).
    expect(await captureRetries(capture)).toBeGreaterThanOrEqual(1);

    await checkChainAndRestore(rig, workload, 'app_restored');
    process.stderr.write(`capture-worker-kill: ${workload.committed.size} transactions, kills ${JSON.stringify(kills)}\n`);
  });
});
