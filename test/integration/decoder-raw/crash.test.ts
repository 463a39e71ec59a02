/**
 * The decoder_raw capture under crashes, through the crash rig (workers as OS processes,
 * Temporal, a pgbench-like workload that records what the clients saw committed):
 * 1. the worker running the capture is SIGKILLed (the node process only, as the OOM killer
 *    would): its pg_recvlogical must not outlive it (the supervisor's watchdog stops it), and
 *    the standby resumes the capture after the heartbeat timeout;
 * 2. PostgreSQL is stopped with `-m immediate` and started again, twice, during the workload:
 *    the slot rewinds to its last saved position and resends; those transactions are
 *    recognized by xid, also when they are in segments sealed before the crash.
 * Then every committed transaction is in the segments exactly once and a restore
 * (restoreWorkflow) equals the source. Runs only where decoder_raw is installed.
 */
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import type { WorkflowHandle } from '@temporalio/client';
import type { PgCluster } from '../../helpers/pg-cluster';
import { waitFor } from '../../helpers/pgincr-env';
import { parseLsn } from '../../../src/core/lsn';
import { stopSignal, type CaptureStatus } from '../../../src/workflows/signals';
import {
  CrashRig,
  currentLsn,
  delay,
  randomBetween,
  timer,
  waitForValue,
  waitSlotConfirms,
  waitSlotRewindable,
  Workload,
  type WorkerProcess,
} from '../crash/crash-rig';
import { captureRetries, checkChainAndRestore, preparePgbenchDatabase, runSetup, startCapture } from '../crash/capture-scenario';
import { describeRaw, startRawCluster } from './raw-cluster';
import { teardown, teardownTimeout } from '../../helpers/teardown';

jest.setTimeout(300_000);

/** A slot name of this run only: pg_recvlogical processes are found by it. */
const SLOT = `pgincr_rawcrash_${randomUUID().slice(0, 8)}`;
const PG_CRASHES = Number(process.env.PGINCR_TEST_CRASHES ?? 2);

/** pids of pg_recvlogical processes streaming our slot. */
function recvlogicalPids(): number[] {
  try {
    return execFileSync('pgrep', ['-f', `pg_recvlogical --start .*--slot=${SLOT}( |$)`], { encoding: 'utf8' })
      .split('\n')
      .filter(Boolean)
      .map(Number);
  } catch {
    return []; // pgrep exits 1 when nothing matches
  }
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

async function slotConfirmed(pg: PgCluster): Promise<bigint> {
  const [row] = await pg.query<{ lsn: string }>('SELECT confirmed_flush_lsn::text AS lsn FROM pg_replication_slots WHERE slot_name = $1', [SLOT]);
  return parseLsn(row?.lsn ?? '0/0');
}

/** Resent transactions the capture recognized by xid and skipped, over its completed activity runs. */
async function skippedResent(capture: WorkflowHandle): Promise<number> {
  let skipped = 0;
  for (const e of (await capture.fetchHistory()).events ?? []) {
    const data = e.activityTaskCompletedEventAttributes?.result?.payloads?.[0]?.data;
    if (data) skipped += Number((JSON.parse(Buffer.from(data).toString('utf8')) as { skipped?: number }).skipped ?? 0);
  }
  return skipped;
}

describeRaw('decoder_raw capture crash: SIGKILLed worker, PostgreSQL immediate stop', () => {
  let pg: PgCluster;
  let rig: CrashRig;
  let workload: Workload | undefined;
  const mark = timer();

  beforeAll(async () => {
    pg = await startRawCluster({ settings: { synchronous_commit: 'on', fsync: 'on' } });
    await preparePgbenchDatabase(pg, 'app');
    // Small segments: resent transactions land in segments sealed before the crash.
    rig = await CrashRig.create(pg, 'app', 'raw-crash', { capture: { decoder: 'decoder_raw', slot: SLOT, segmentMaxBytes: 16 * 1024 } });
  }, 120_000);
  afterAll(async () => {
    process.stderr.write(`decoder-raw/crash timings: ${mark.report()}\n`);
    await teardown([
      ['stop the workload', () => workload?.stop()],
      ['close the rig (its workers)', () => rig?.close()],
      ['kill pg_recvlogical still streaming our slot', () => recvlogicalPids().forEach((pid) => process.kill(pid, 'SIGKILL'))],
      ['stop the cluster', () => pg?.stop()],
    ]);
  }, teardownTimeout(4));

  it('writes every committed transaction exactly once across a worker kill and server crashes; restore equals the source', async () => {
    await rig.startWorker();
    const standby: Promise<WorkerProcess> = rig.startWorker();
    standby.catch(() => undefined);
    mark('workers');
    expect((await runSetup(rig)).status).toBe('set up');
    const [slotRow] = await pg.query<{ plugin: string }>('SELECT plugin FROM pg_replication_slots WHERE slot_name = $1', [SLOT]);
    expect(slotRow?.plugin).toBe('decoder_raw');
    mark('setup');

    workload = new Workload(pg, 'app', { clients: 2, pauseMs: 10 }).start();
    const capture: WorkflowHandle = await startCapture(rig);

    // 1. SIGKILL the node process running the capture (not its process group).
    await standby;
    await workload.advance(50, 120_000);
    await delay(randomBetween(300, 3000)); // a random kill point, not a stand-in for a condition
    const running = await waitForValue('a worker running the capture activity', () => rig.workerRunning(capture, 'captureChanges'), 120_000, 100);
    const streaming = await waitForValue(
      'pg_recvlogical streaming our slot',
      async () => {
        const pids = recvlogicalPids();
        return pids.length > 0 ? pids : null;
      },
      30_000,
      50,
    );
    process.kill(running.worker.pid, 'SIGKILL');
    await waitFor(`worker ${running.worker.pid} to exit after SIGKILL`, async () => !running.worker.alive(), 10_000, 50);
    const killedAt = Date.now();
    mark('worker kill');
    // Its pg_recvlogical does not outlive it for long (the watchdog SIGTERMs it; it fsyncs and exits).
    await waitFor(`pg_recvlogical ${streaming.join(',')} of the killed worker to exit`, async () => !streaming.some(alive), 10_000, 50);
    const orphanMs = Date.now() - killedAt;
    // The standby takes the capture over (after the heartbeat timeout) and writes past the kill.
    await waitSlotConfirms(pg, await currentLsn(pg, 'app'), 120_000, SLOT);
    mark('resumed');

    // 2. PostgreSQL crashes during the workload.
    const crashes: { afterCommitted: number; delayMs: number; downMs: number; rewindable: boolean; rewound: boolean }[] = [];
    const skippedBeforeCrashes = await skippedResent(capture); // the kill's resends
    // At least PG_CRASHES crashes, up to two more while none has rewound the slot (a checkpoint
    // between the wait and the stop can save the slot's position).
    for (let i = 0; i < PG_CRASHES || (i < PG_CRASHES + 2 && !crashes.some((c) => c.rewound)); i++) {
      await workload.advance(50, 120_000);
      await waitForValue('the capture activity to run', () => rig.workerRunning(capture, 'captureChanges'), 120_000, 100);
      const delayMs = randomBetween(300, 3000);
      await delay(delayMs); // a random crash point
      const rewindable = await waitSlotRewindable(pg, SLOT); // ... once the crash will make the server resend what the capture wrote
      const confirmedBefore = await slotConfirmed(pg);
      pg.stopServer('immediate');
      const downMs = randomBetween(0, 1500);
      await delay(downMs); // a random time down
      pg.startServer();
      const confirmedAfter = await slotConfirmed(pg);
      crashes.push({ afterCommitted: workload.committed.size, delayMs, downMs, rewindable, rewound: confirmedAfter < confirmedBefore });
      await workload.advance(50, 120_000);
      await waitSlotConfirms(pg, await currentLsn(pg, 'app'), 120_000, SLOT);
      mark(`pg crash ${i + 1}`);
    }
    await workload.stop();
    await waitSlotConfirms(pg, await currentLsn(pg, 'app'), 120_000, SLOT);
    await capture.signal(stopSignal);
    const status = (await capture.result()) as CaptureStatus;
    mark('capture stopped');
    expect(status.state).toBe('stopped');
    expect(status.segmentsSealed).toBeGreaterThan(5);
    expect(workload.committed.size).toBeGreaterThan(200);
    expect(await captureRetries(capture)).toBeGreaterThanOrEqual(1);
    // The crash was made to rewind the slot (waitSlotRewindable before each stop; up to two more crashes otherwise).
    expect(crashes.filter((c) => c.rewound).length).toBeGreaterThanOrEqual(1);
    // After the server crashes, it resent transactions already written (the slot rewound, or
    // pg_recvlogical had them before it confirmed them): the xid skip ran.
    const skipped = await skippedResent(capture);
    expect(skipped - skippedBeforeCrashes).toBeGreaterThanOrEqual(1);
    expect(recvlogicalPids()).toEqual([]);

    await checkChainAndRestore(rig, workload, 'app_restored');
    mark('restored');
    process.stderr.write(
      `decoder-raw/crash: ${workload.committed.size} transactions (${workload.inDoubt.size} in doubt), ` +
        `orphan pg_recvlogical gone ${orphanMs} ms after the kill, ${skipped} resent skipped (${skipped - skippedBeforeCrashes} after the server crashes), crashes ${JSON.stringify(crashes)}\n`,
    );
  });
});
