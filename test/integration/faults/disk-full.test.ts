/**
 * Fault gauntlet, item 4 (issue 18): the repository's disk fills up while the capture runs.
 * The repository is a small tmpfs; a filler file takes every free byte under a pgbench-like
 * load. The capture must stop acknowledging (the slot's confirmed_flush_lsn never passes the
 * last whole transaction on disk: invariant 2), `check --nagios` must go CRITICAL naming the
 * full disk, nothing may be lost or doubled, every sealed segment's footer must verify, and
 * the capture must resume by itself when the filler is deleted. Then a restore equals the source.
 */
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { startCluster, type PgCluster } from '../../helpers/pg-cluster';
import { waitFor } from '../../helpers/pgincr-env';
import { parseLsn } from '../../../src/core/lsn';
import { CrashRig, currentLsn, waitSlotConfirms, Workload } from '../crash/crash-rig';
import { checkRestored, finishCapture, preparePgbenchDatabase, runSetup, startCapture } from '../crash/capture-scenario';
import { auditXids, captureAttempt, fillDisk, formatLsn, mountTmpfs, reportFault, slotConfirmedLsn, unmount, runPgincr } from './fault-rig';
import { teardown, teardownTimeout } from '../../helpers/teardown';

jest.setTimeout(300_000);

const pgincr = runPgincr;

describe('fault: repository disk full', () => {
  let pg: PgCluster;
  let rig: CrashRig;
  let workload: Workload | undefined;
  let mounted = false;

  beforeAll(async () => {
    pg = await startCluster();
    await preparePgbenchDatabase(pg, 'app');
    rig = await CrashRig.create(pg, 'app', 'disk-full', { capture: { segmentMaxBytes: 32 * 1024 } });
    mountTmpfs(rig.repository, '48m');
    mounted = true;
  }, 120_000);
  afterAll(
    () =>
      teardown([
        ['stop the workload', () => workload?.stop()],
        ['unmount the repository tmpfs', () => mounted && unmount(rig.repository)],
        ['close the rig (its workers)', () => rig?.close()],
        ['stop the cluster', () => pg?.stop()],
      ]),
    teardownTimeout(4),
  );

  it('stops acknowledging, alerts, loses nothing and resumes by itself when space is freed', async () => {
    const worker = await rig.startWorker();
    expect((await runSetup(rig)).status).toBe('set up');
    const chain = rig.chainDir();
    workload = new Workload(pg, 'app', { clients: 2, pauseMs: 5 }).start();
    const capture = await startCapture(rig, 20_000);
    await workload.advance(100, 120_000);
    await waitSlotConfirms(pg, await currentLsn(pg, 'app'));

    // Take every free byte of the repository's file system.
    const filler = join(rig.repository, 'filler');
    const filled = fillDisk(filler);
    expect(filled).toBeGreaterThan(0);
    const fullAt = Date.now();

    // While full: the capture fails to write (ENOSPC in its worker's log, for real), and from
    // that failure on the slot acknowledges nothing more, checked at every poll. (Not "confirmed
    // <= the last transaction on disk": an idle keepalive acknowledges the server's WAL end, with
    // nothing left to write before it — docs/design.md, the acknowledgement rule. That nothing
    // was lost is the audit's part, below.)
    const enospcLines = () =>
      readFileSync(worker.logFile, 'utf8')
        .split('\n')
        .filter((l) => l.includes('ENOSPC')).length;
    let checks = 0;
    let failedAt: bigint | null = null;
    const holdsInvariant = async () => {
      const confirmed = parseLsn(await slotConfirmedLsn(pg));
      checks += 1;
      if (failedAt === null) {
        if (enospcLines() > 0) failedAt = confirmed;
      } else if (confirmed !== failedAt) {
        throw new Error(`slot confirmed ${formatLsn(confirmed)} after the capture failed with the disk full at ${formatLsn(failedAt)} (invariant 2)`);
      }
      return confirmed;
    };
    await waitFor(
      'the capture to fail with ENOSPC (worker log)',
      async () => {
        await holdsInvariant();
        return enospcLines() > 0;
      },
      90_000,
      250,
    );
    const check = await pgincr(['check', '--nagios'], rig.configPath);
    expect(check.code).toBe(2);
    expect(check.out).toMatch(/^PGINCR CRITICAL/m);
    expect(check.out).toMatch(/repository disk full \(ENOSPC\)/);
    // The source keeps committing; the capture keeps failing (retries) and acknowledges nothing new.
    const stuckAt = await holdsInvariant();
    await workload.advance(10, 60_000);
    await waitFor(
      'the capture retried while full (attempt 2)',
      async () => {
        await holdsInvariant();
        return (await captureAttempt(rig, capture)) >= 2;
      },
      60_000,
      250,
    );
    expect(parseLsn(await currentLsn(pg, 'app'))).toBeGreaterThan(stuckAt);

    // Free the space: the capture resumes by itself (Temporal retries, no operator action).
    rmSync(filler);
    const freedAt = Date.now();
    const target = await currentLsn(pg, 'app');
    await waitSlotConfirms(pg, target, 240_000);
    const recoverMs = Date.now() - freedAt;
    await workload.advance(30, 60_000);
    // The failure record clears with the first durable progress past it.
    const record = join(chain, 'monitor', 'capture.json');
    await waitFor(
      'the capture failure record to clear',
      async () =>
        !existsSync(record) || (JSON.parse(readFileSync(record, 'utf8')) as { slots: Record<string, { failure: unknown }> }).slots.pgincr?.failure == null,
      60_000,
      500,
    );

    const status = await finishCapture(rig, workload, capture);
    expect(status.state).toBe('stopped');

    const audit = await auditXids(pg, 'app', chain);
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
      reportFault({
        fault: 'repository disk full',
        lost: audit.lost.length,
        doubled: audit.doubled.length,
        restoreEqual,
        recoverMs,
        detail: `filled ${filled} B for ${((freedAt - fullAt) / 1000).toFixed(1)} s, ${checks} invariant checks while full, ${enospcLines()} ENOSPC log lines, ${audit.sealedVerified} sealed segments verified, ${workload.committed.size} transactions`,
      });
    }
    expect(audit.lost).toEqual([]);
    expect(audit.doubled).toEqual([]);
    expect(audit.sealedVerified).toBeGreaterThan(1);
  });
});
