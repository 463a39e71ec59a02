/**
 * Fault gauntlet, item 8 (issue 18): server events under write load. The capture's walsender
 * is killed with pg_terminate_backend, then the server is stopped with `-m fast` and started
 * again mid-stream. Each time the capture must come back by itself (a new walsender streams
 * the slot) and the chain must hold every committed transaction exactly once (invariants 1-3);
 * the restore equals the source. Then a pg_reload_conf changes max_slot_wal_keep_size, which
 * `check` reads live.
 */
import { startCluster, type PgCluster } from '../../helpers/pg-cluster';
import { waitFor } from '../../helpers/pgincr-env';
import { CrashRig, currentLsn, slotActivePid, waitSlotConfirms, Workload } from '../crash/crash-rig';
import { checkRestored, finishCapture, preparePgbenchDatabase, runSetup, startCapture } from '../crash/capture-scenario';
import { auditXids, captureAttempt, reportFault, runPgincr } from './fault-rig';
import { teardown, teardownTimeout } from '../../helpers/teardown';

jest.setTimeout(300_000);

const pgincr = runPgincr;

describe('fault: server events (walsender terminated, fast restart, reload)', () => {
  let pg: PgCluster;
  let rig: CrashRig;
  let workload: Workload | undefined;

  beforeAll(async () => {
    pg = await startCluster();
    await preparePgbenchDatabase(pg, 'app');
    rig = await CrashRig.create(pg, 'app', 'server-events', { capture: { segmentMaxBytes: 64 * 1024 } });
  }, 120_000);
  afterAll(
    () =>
      teardown([
        ['stop the workload', () => workload?.stop()],
        ['close the rig (its workers)', () => rig?.close()],
        ['stop the cluster', () => pg?.stop()],
      ]),
    teardownTimeout(3),
  );

  it('resumes exactly once after each event, and the restore equals the source', async () => {
    await rig.startWorker();
    expect((await runSetup(rig)).status).toBe('set up');
    workload = new Workload(pg, 'app', { clients: 2, pauseMs: 5 }).start();
    const capture = await startCapture(rig, 30_000);
    await workload.advance(100, 120_000);
    await waitSlotConfirms(pg, await currentLsn(pg, 'app'));

    // 1. The walsender is killed mid-stream.
    const walsender = await slotActivePid(pg);
    expect(walsender).not.toBeNull();
    const [killed] = await pg.query<{ ok: boolean }>('SELECT pg_terminate_backend($1) AS ok', [walsender]);
    expect(killed?.ok).toBe(true);
    const terminatedAt = Date.now();
    const afterTerminate = await currentLsn(pg, 'app');
    await waitFor(
      'a new walsender for the slot',
      async () => {
        const pid = await slotActivePid(pg);
        return pid !== null && pid !== walsender;
      },
      120_000,
      100,
    );
    await waitSlotConfirms(pg, afterTerminate, 120_000);
    const terminateRecoverMs = Date.now() - terminatedAt;
    await workload.advance(100, 120_000);

    // 2. A fast shutdown and restart mid-stream (clients and the walsender are disconnected).
    const before = await slotActivePid(pg);
    pg.restart({ mode: 'fast' });
    const restartedAt = Date.now();
    await workload.advance(20, 120_000); // the workload reconnected
    const afterRestart = await currentLsn(pg, 'app');
    await waitFor(
      'the capture to stream again after the restart',
      async () => {
        const pid = await slotActivePid(pg);
        return pid !== null && pid !== before;
      },
      120_000,
      100,
    );
    await waitSlotConfirms(pg, afterRestart, 180_000);
    const restartRecoverMs = Date.now() - restartedAt;
    await workload.advance(100, 120_000);
    // Both events made the capture activity fail and be retried (not a lucky no-op).
    expect(await captureAttempt(rig, capture)).toBeGreaterThanOrEqual(2);

    const status = await finishCapture(rig, workload, capture);
    expect(status.state).toBe('stopped');
    const audit = await auditXids(pg, 'app', rig.chainDir());
    let restoreEqual = false;
    try {
      await rig.client.workflow.execute('restoreWorkflow', {
        taskQueue: rig.taskQueue,
        workflowId: rig.workflowId('restore-app_restored'),
        args: [{ profile: 'default', targetProfile: 'admin', targetDb: 'app_restored' }],
      });
      await checkRestored(rig, 'app_restored');
      restoreEqual = true;
    } finally {
      const common = { lost: audit.lost.length, doubled: audit.doubled.length, restoreEqual };
      const detail = `${workload.committed.size} transactions, ${audit.sealedVerified} sealed segments verified`;
      reportFault({ fault: 'walsender terminated', ...common, recoverMs: terminateRecoverMs, detail });
      reportFault({ fault: 'server fast restart', ...common, recoverMs: restartRecoverMs, detail });
    }
    expect(audit.lost).toEqual([]);
    expect(audit.doubled).toEqual([]);
    expect(workload.committed.size).toBeGreaterThan(300);

    // 3. A reload that changes a setting pgincr depends on: check reads it live.
    const before3 = await pgincr(['check'], rig.configPath);
    expect(before3.out).toMatch(/max_slot_wal_keep_size = -1/);
    await pg.query("ALTER SYSTEM SET max_slot_wal_keep_size = '256MB'");
    await pg.query('SELECT pg_reload_conf()');
    await waitFor(
      'the reload to apply',
      async () => (await pg.query<{ v: string }>("SELECT current_setting('max_slot_wal_keep_size') AS v"))[0]?.v === '256MB',
      30_000,
      100,
    );
    const after3 = await pgincr(['check'], rig.configPath);
    expect(after3.out).toMatch(/max_slot_wal_keep_size = 256\.0 MiB/);
  });
});
