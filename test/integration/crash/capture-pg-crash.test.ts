/**
 * Capture survives PostgreSQL crashing: `pg_ctl stop -m immediate` at random points while a
 * pgbench-like workload and the capture run (the worker is its own OS process), then a restart
 * and crash recovery. The slot may rewind to its last saved position; nothing is written twice,
 * nothing the clients saw committed is lost, and the restore equals the source.
 * This cluster runs with fsync and synchronous_commit on, so the server itself keeps every
 * transaction whose COMMIT returned.
 */
import { startCluster, type PgCluster } from '../../helpers/pg-cluster';
import { parseLsn } from '../../../src/core/lsn';
import { CrashRig, currentLsn, delay, randomBetween, waitForValue, waitSlotConfirms, waitSlotRewindable, Workload } from './crash-rig';
import { captureRetries, checkChainAndRestore, finishCapture, preparePgbenchDatabase, runSetup, startCapture } from './capture-scenario';

jest.setTimeout(240_000);

async function slotConfirmed(pg: PgCluster): Promise<bigint> {
  const [row] = await pg.query<{ lsn: string }>("SELECT confirmed_flush_lsn::text AS lsn FROM pg_replication_slots WHERE slot_name = 'pgincr'");
  return parseLsn(row?.lsn ?? '0/0');
}

const CRASHES = Number(process.env.PGINCR_TEST_CRASHES ?? 2);

describe('capture crash: PostgreSQL immediate stop', () => {
  let pg: PgCluster;
  let rig: CrashRig;
  let workload: Workload | undefined;

  beforeAll(async () => {
    pg = await startCluster({ settings: { synchronous_commit: 'on', fsync: 'on' } });
    await preparePgbenchDatabase(pg, 'app');
    rig = await CrashRig.create(pg, 'app', 'pg-crash');
  }, 120_000);
  afterAll(async () => {
    await workload?.stop();
    await rig?.close();
    await pg?.stop();
  }, 60_000);

  it('writes every committed transaction exactly once across server crashes, and restores to the source', async () => {
    await rig.startWorker();
    expect((await runSetup(rig)).status).toBe('set up');

    workload = new Workload(pg, 'app', { clients: 2, pauseMs: 10 }).start();
    const capture = await startCapture(rig);
    const crashes: { afterCommitted: number; delayMs: number; downMs: number; rewindable: boolean; rewound: boolean }[] = [];
    // At least CRASHES crashes, up to two more while none has rewound the slot (a checkpoint can
    // save the slot between the wait below and the stop).
    for (let i = 0; i < CRASHES || (i < CRASHES + 2 && !crashes.some((c) => c.rewound)); i++) {
      await workload.advance(50, 120_000);
      await waitForValue('the capture activity to run', () => rig.workerRunning(capture, 'captureChanges'), 120_000, 100);
      const delayMs = randomBetween(300, 3000);
      await delay(delayMs); // a random crash point ...
      const rewindable = await waitSlotRewindable(pg); // ... once the crash will make the server resend what the capture wrote
      const confirmedBefore = await slotConfirmed(pg);
      pg.stopServer('immediate');
      const downMs = randomBetween(0, 1500);
      await delay(downMs); // a random time down
      pg.startServer();
      // The slot's position is saved at checkpoints: after a crash it is usually behind what
      // the capture had written, and the server sends those transactions again.
      const confirmedAfter = await slotConfirmed(pg);
      crashes.push({ afterCommitted: workload.committed.size, delayMs, downMs, rewindable, rewound: confirmedAfter < confirmedBefore });
      // The workload reconnected and the capture resumed past the restart.
      await workload.advance(50, 120_000);
      await waitSlotConfirms(pg, await currentLsn(pg, 'app'), 120_000);
    }
    // The capture met transactions it had already written (the exactly-once path ran).
    expect(crashes.filter((c) => c.rewound).length).toBeGreaterThanOrEqual(1);
    const status = await finishCapture(rig, workload, capture);
    expect(status.state).toBe('stopped');
    expect(workload.committed.size).toBeGreaterThan(150);
    // The capture activity failed with the server and was retried.
    expect(await captureRetries(capture)).toBeGreaterThanOrEqual(1);

    await checkChainAndRestore(rig, workload, 'app_restored');
    process.stderr.write(`capture-pg-crash: ${workload.committed.size} transactions (${workload.inDoubt.size} in doubt), crashes ${JSON.stringify(crashes)}\n`);
  });
});
