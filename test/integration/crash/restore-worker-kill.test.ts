/**
 * Restore survives a SIGKILLed worker in the middle of applying segments: the chain has many
 * small segments; the worker running `applySegments` (its own OS process) is killed once the
 * target's replication origin has moved but not reached the end, and the standby worker's retry
 * resumes from the origin's committed progress. The restored database equals the source
 * exactly: `crash_log` has no key, so a transaction applied twice would show as a duplicate.
 */
import type { Client as PgClient } from 'pg';
import { startCluster, type PgCluster } from '../../helpers/pg-cluster';
import { waitFor } from '../../helpers/pgincr-env';
import { tableSums } from '../../helpers/workload';
import { listSealedSegments, verifySegmentFile } from '../../../src/adapters/fs/segment-files';
import { formatLsn, parseLsn } from '../../../src/core/lsn';
import type { RestoreReport } from '../../../src/workflows/restore';
import { CrashRig, waitForValue, Workload } from './crash-rig';
import { dbKeys, finishCapture, preparePgbenchDatabase, runSetup, startCapture } from './capture-scenario';

jest.setTimeout(240_000);

const TRANSACTIONS = 5000;

/** The restore origin's in-memory progress (moves at each applied batch's commit), or 0. */
async function originLsn(admin: PgClient): Promise<bigint> {
  const r = await admin.query<{ lsn: string | null }>(
    "SELECT max(remote_lsn)::text AS lsn FROM pg_replication_origin_status WHERE external_id LIKE 'pgincr_restore_%'");
  const text = r.rows[0]?.lsn;
  return text ? parseLsn(text) : 0n;
}

describe('restore crash: SIGKILLed worker during applySegments', () => {
  let pg: PgCluster;
  let rig: CrashRig;
  let admin: PgClient | undefined;
  let workload: Workload | undefined;

  beforeAll(async () => {
    pg = await startCluster();
    await preparePgbenchDatabase(pg, 'app');
    rig = await CrashRig.create(pg, 'app', 'restore-kill', { capture: { segmentMaxBytes: 64 * 1024 } });
  }, 120_000);
  afterAll(async () => {
    await workload?.stop();
    await admin?.end().catch(() => undefined);
    await rig?.close();
    await pg?.stop();
  }, 60_000);

  it('applies every transaction exactly once across a worker kill', async () => {
    await Promise.all([rig.startWorker(), rig.startWorker()]);
    const setup = await runSetup(rig);
    expect(setup.status).toBe('set up');
    const baseLsn = parseLsn(setup.base?.lsn ?? '0/0');

    workload = new Workload(pg, 'app', { clients: 2 }).start();
    const capture = await startCapture(rig);
    await workload.advance(TRANSACTIONS, 180_000);
    expect((await finishCapture(rig, workload, capture)).state).toBe('stopped');
    const sealed = await listSealedSegments(rig.chainDir());
    expect(sealed.length).toBeGreaterThan(20);
    const endLsn = (sealed.at(-1) as { endLsn: bigint }).endLsn;
    let chainTransactions = 0;
    for (const s of sealed) chainTransactions += (await verifySegmentFile(s.path)).scan.transactions.length;

    admin = await pg.connect('postgres');
    const restore = await rig.client.workflow.start('restoreWorkflow', {
      taskQueue: rig.taskQueue, workflowId: rig.workflowId('restore'),
      args: [{ profile: 'default', targetProfile: 'admin', targetDb: 'app_restored' }],
    });
    const running = await waitForValue('a worker running applySegments', () => rig.workerRunning(restore, 'applySegments'), 180_000, 50);
    // Part way: some batches committed in the target, not all.
    let atKill = 0n;
    await waitFor('the restore origin to move part way', async () => {
      atKill = await originLsn(admin as PgClient);
      if (atKill >= endLsn) throw new Error(`applySegments finished (origin at ${formatLsn(atKill)}) before the kill: make the chain longer`);
      return atKill > baseLsn;
    }, 120_000, 10);
    await rig.kill(running.worker);
    expect(atKill).toBeLessThan(endLsn);
    // Temporal notices a dead worker by the heartbeat timeout (2 minutes for this activity
    // class); failing the dead attempt by id stands in for that wait. The retry (after the
    // retry policy's backoff) runs on the standby worker.
    await rig.client.activity.fail({ workflowId: restore.workflowId, activityId: running.activity.activityId },
      new Error('worker SIGKILLed by the crash test'));
    const replacement = rig.startWorker();
    replacement.catch(() => undefined);

    const report = (await restore.result()) as RestoreReport;
    await replacement;
    const history = await restore.fetchHistory();
    const applyAttempts = (history.events ?? [])
      .map((e) => e.activityTaskStartedEventAttributes?.attempt)
      .filter((a): a is number => typeof a === 'number');
    expect(Math.max(...applyAttempts)).toBeGreaterThanOrEqual(2);
    // The retry skipped what the killed attempt had committed.
    expect(report.apply.appliedTransactions).toBeLessThan(chainTransactions);

    expect(await tableSums(pg, 'app_restored')).toEqual(await tableSums(pg, 'app'));
    const duplicates = await pg.query('SELECT k, count(*) AS n FROM crash_log GROUP BY k HAVING count(*) > 1', [], 'app_restored');
    expect(duplicates).toEqual([]);
    expect(await dbKeys(pg, 'app_restored')).toEqual(await dbKeys(pg, 'app'));
    process.stderr.write(`restore-worker-kill: ${workload.committed.size} transactions, ${sealed.length} segments, killed at ${formatLsn(atKill)} of ${formatLsn(endLsn)}, retry applied ${report.apply.appliedTransactions}\n`);
  });
});
