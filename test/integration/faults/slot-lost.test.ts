/**
 * Fault gauntlet, item 5 (issue 18): the slot is lost. While the capture is stopped the server
 * writes more WAL than max_slot_wal_keep_size allows the slot to hold; a checkpoint invalidates
 * it (wal_status `lost`). The capture must then fail at once (no retry: the WAL is gone for
 * good) naming the slot, the LSN from which the chain is broken and the fix; `check --nagios`
 * must be CRITICAL naming the lost slot; `pgincr setup` must start a new chain with a new base,
 * and `pgincr list` must show the old base still restorable up to the break and the new one.
 */
import { findResumePoint } from '../../../src/adapters/fs/segment-files';
import { formatLsn, parseLsn } from '../../../src/core/lsn';
import { startCluster, type PgCluster } from '../../helpers/pg-cluster';
import { waitFor } from '../../helpers/pgincr-env';
import { CrashRig, currentLsn, waitSlotConfirms, Workload } from '../crash/crash-rig';
import { checkRestored, finishCapture, preparePgbenchDatabase, runSetup, startCapture } from '../crash/capture-scenario';
import { auditXids, captureAttempt, reportFault, runPgincr, slotConfirmedLsn } from './fault-rig';
import { teardown, teardownTimeout } from '../../helpers/teardown';

jest.setTimeout(180_000);

const pgincr = runPgincr;

/** Every message down an error's cause chain (WorkflowFailedError → ActivityFailure → ApplicationFailure). */
function messages(err: unknown): string {
  const out: string[] = [];
  for (let e = err as { message?: string; cause?: unknown } | undefined, i = 0; e && i < 8; e = e.cause as typeof e, i++) out.push(e.message ?? '');
  return out.join('\n');
}

describe('fault: replication slot lost (max_slot_wal_keep_size exceeded)', () => {
  let pg: PgCluster;
  let rig: CrashRig;
  let workload: Workload | undefined;

  beforeAll(async () => {
    // One 16 MB WAL segment of slack for the slot: a few switched segments invalidate it.
    pg = await startCluster({ settings: { max_slot_wal_keep_size: '16MB', wal_keep_size: 0, min_wal_size: '32MB', max_wal_size: '64MB' } });
    await preparePgbenchDatabase(pg, 'app');
    await pg.query('CREATE TABLE wal_filler (x int)', [], 'postgres');
    rig = await CrashRig.create(pg, 'app', 'slot-lost', { capture: { segmentMaxBytes: 64 * 1024 } });
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

  it('fails non-retryably naming the break, check is CRITICAL, setup starts a new chain, list shows both windows', async () => {
    await rig.startWorker();
    expect((await runSetup(rig)).status).toBe('set up');
    workload = new Workload(pg, 'app', { clients: 2, pauseMs: 5 }).start();
    const capture = await startCapture(rig, 60_000);
    await workload.advance(50, 60_000);
    await waitSlotConfirms(pg, await currentLsn(pg, 'app'));
    // The capture is stopped (sealed): everything committed so far is in the chain.
    expect((await finishCapture(rig, workload, capture)).state).toBe('stopped');
    const audit = await auditXids(pg, 'app', rig.chainDir());
    expect(audit.lost).toEqual([]);
    expect(audit.doubled).toEqual([]);
    // The chain ends where its segments end: the break is there (the slot may have confirmed a
    // little further on an idle keepalive, with nothing to write in between).
    const end = await findResumePoint(rig.chainDir());
    expect(end).not.toBeNull();
    const breakLsn = formatLsn(end?.lsn ?? 0n);
    expect(parseLsn(await slotConfirmedLsn(pg))).toBeGreaterThanOrEqual(end?.lsn ?? 0n);

    // While nothing streams the slot: WAL switches and checkpoints until the server invalidates it.
    const lostStart = Date.now();
    await waitFor(
      "the slot's wal_status to become lost",
      async () => {
        await pg.query('INSERT INTO wal_filler SELECT g FROM generate_series(1, 1000) g', [], 'postgres');
        await pg.query('SELECT pg_switch_wal()');
        await pg.query('CHECKPOINT');
        const [row] = await pg.query<{ wal_status: string | null }>("SELECT wal_status FROM pg_replication_slots WHERE slot_name = 'pgincr'");
        return row?.wal_status === 'lost';
      },
      60_000,
      50,
    );

    // The capture fails at once: a retry cannot bring removed WAL back.
    const again = await rig.client.workflow.start('captureWorkflow', {
      taskQueue: rig.taskQueue,
      workflowId: rig.workflowId('capture-after-loss'),
      args: [{ profile: 'default', runForMs: 60_000 }],
    });
    const failure = await again.result().then(
      () => null,
      (err: unknown) => err,
    );
    expect(failure).not.toBeNull();
    const text = messages(failure);
    expect(text).toMatch(/slot pgincr/);
    expect(text).toContain(`the chain is broken from ${breakLsn}`);
    expect(text).toMatch(/pgincr setup/);
    expect(await captureAttempt(rig, again)).toBe(1);

    const check = await pgincr(['check', '--nagios'], rig.configPath);
    expect(check.code).toBe(2);
    expect(check.out).toMatch(/^PGINCR CRITICAL/m);
    expect(check.out).toMatch(/replication slot pgincr is invalidated \(wal_status lost\)/);

    // The documented recovery: `pgincr setup` drops the lost slot and starts a new chain.
    const setup = await pgincr(['setup', '--no-start-capture'], rig.configPath);
    expect(setup.code).toBe(0);
    expect(setup.out).toMatch(/^set up: chain /m);
    const newBase = /base (\S+) at (\S+)/.exec(setup.out);
    expect(newBase).not.toBeNull();
    const [slot] = await pg.query<{ wal_status: string | null }>("SELECT wal_status FROM pg_replication_slots WHERE slot_name = 'pgincr'");
    expect(slot?.wal_status).not.toBe('lost');
    const recoverMs = Date.now() - lostStart;

    const list = await pgincr(['list'], rig.configPath);
    process.stderr.write(`pgincr list:\n${list.out}\n`);
    expect(list.code).toBe(0);
    // The window before (the old base up to the break) and after (the new base), and the span between named.
    const oldBase = /^(\S+)\s+(\S+)\s+(\S+)\s+(\S+)\s+whole$/m.exec(list.out); // the first range: the old base
    expect(oldBase?.[3]).toBe(breakLsn);
    expect(list.out).toMatch(new RegExp(`^${newBase?.[1]}\\s+${newBase?.[2]}\\s+${newBase?.[2]}\\s`, 'm'));
    expect(list.out).toMatch(
      new RegExp(
        `^NOT restorable: from \\S+ \\(${breakLsn}\\) to \\S+ \\(${newBase?.[2]}\\): the chain broke at ${breakLsn}; base ${newBase?.[1]} starts a new chain$`,
        'm',
      ),
    );

    // Both windows restore: the old base up to the break, the new base. Nothing was written to
    // app after the capture stopped (the WAL that removed the slot's went to another database),
    // so each must equal the source.
    let restoreEqual = false;
    try {
      for (const [targetDb, fromBase] of [
        ['app_before', oldBase?.[1]],
        ['app_after', undefined],
      ] as const) {
        await rig.client.workflow.execute('restoreWorkflow', {
          taskQueue: rig.taskQueue,
          workflowId: rig.workflowId(`restore-${targetDb}`),
          args: [{ profile: 'default', targetProfile: 'admin', targetDb, ...(fromBase ? { fromBase } : {}) }],
        });
        await checkRestored(rig, targetDb);
      }
      restoreEqual = true;
    } finally {
      reportFault({
        fault: 'slot lost',
        lost: audit.lost.length,
        doubled: audit.doubled.length,
        restoreEqual,
        recoverMs,
        detail: `chain broken from ${breakLsn}; new base ${newBase?.[1]} at ${newBase?.[2]}`,
      });
    }
  });
});
