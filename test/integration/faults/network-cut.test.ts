/**
 * Fault gauntlet, item 3 (issue 18): the network between the worker and PostgreSQL is cut. The
 * server runs in a network namespace behind a veth pair and pgincr connects to it over TCP; the
 * cut drops every packet (nothing is refused, as on a dead link or a firewall that stopped
 * answering), under a pgbench-like load that goes on over the unix socket.
 *
 * The capture must notice within capture.receiveTimeout (4 s here), not after the OS's TCP
 * timeouts (15 min with data in flight, hours without), say so in `capture status`, and come
 * back by itself exactly once when the link returns: every committed xid in exactly one BEGIN
 * marker, and the restore equals the source.
 *
 * Then the link is cut while a restore applies segments (into the same server, over the link):
 * the apply must notice within restore.receiveTimeout (4 s here) plus its check over a new
 * connection (src/restore/apply-watchdog.ts), fail with an error naming the server and the
 * setting, be retried, and once the link returns complete exactly once (the replication
 * origin's progress commits with each batch): the restored database equals the source.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { startCluster, type PgCluster } from '../../helpers/pg-cluster';
import { waitForValue } from '../../helpers/wait';
import { CrashRig, currentLsn, timer, waitSlotConfirms, Workload } from '../crash/crash-rig';
import { checkRestored, finishCapture, preparePgbenchDatabase, runSetup, startCapture } from '../crash/capture-scenario';
import { auditXids, captureAttempt, NetnsLink, reportFault, runPgincr } from './fault-rig';
import { teardown, teardownTimeout } from '../../helpers/teardown';

jest.setTimeout(300_000);

const RECEIVE_TIMEOUT_MS = 4000;

const unavailable = NetnsLink.unavailable();
if (unavailable) throw new Error(`the network-cut fault test needs network namespaces and nftables as root: ${unavailable}`);

describe('fault: network cut between the worker and PostgreSQL', () => {
  let pg: PgCluster;
  let link: NetnsLink | undefined;
  let rig: CrashRig;
  let workload: Workload | undefined;

  beforeAll(async () => {
    pg = await startCluster();
    await preparePgbenchDatabase(pg, 'app');
    link = NetnsLink.create();
    link.moveServer(pg);
    rig = await CrashRig.create(pg, 'app', 'network-cut', { capture: { segmentMaxBytes: 64 * 1024, receiveTimeout: `${RECEIVE_TIMEOUT_MS / 1000}s` } });
    // pgincr reaches the server over TCP through the link (the rig's profiles use the socket).
    const config = JSON.parse(readFileSync(rig.configPath, 'utf8')) as { profiles: Record<string, Record<string, unknown>> };
    for (const [name, db] of [
      ['default', 'app'],
      ['admin', 'postgres'],
    ] as const)
      config.profiles[name] = { host: link.serverAddress, port: pg.port, user: pg.user, dbname: db };
    (config as Record<string, unknown>).restore = { receiveTimeout: `${RECEIVE_TIMEOUT_MS / 1000}s` };
    writeFileSync(rig.configPath, JSON.stringify(config, null, 2));
  }, 120_000);
  afterAll(
    () =>
      teardown([
        ['stop the workload', () => workload?.stop()],
        ['close the rig (its workers)', () => rig?.close()],
        [
          'stop the server in the namespace',
          () => {
            try {
              pg?.stopServer('immediate');
            } catch {
              /* not running */
            }
          },
        ],
        ['remove the namespace and link', () => link?.destroy()],
        ['stop the cluster', () => pg?.stop()],
      ]),
    teardownTimeout(5),
  );

  it('the capture notices within receiveTimeout, resumes exactly once when the link returns, and the restore equals the source', async () => {
    const mark = timer();
    await rig.startWorker();
    expect((await runSetup(rig)).status).toBe('set up');
    mark('setup');
    workload = new Workload(pg, 'app', { clients: 2, pauseMs: 20 }).start();
    const capture = await startCapture(rig, 60_000);
    await workload.advance(100, 120_000);
    await waitSlotConfirms(pg, await currentLsn(pg, 'app'));
    const [tcp] = await pg.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM pg_stat_replication WHERE client_addr IS NOT NULL AND application_name = 'pgincr capture'",
    );
    expect(tcp?.n).toBe(1); // the capture streams over the link, not the socket

    mark('streaming');
    // The cut: the workload goes on (socket); the capture hears nothing.
    link!.cut();
    const cutAt = Date.now();
    const failure = await waitForValue(
      'the capture activity to fail on the cut',
      async () => {
        const d = await capture.describe();
        const pending = (d.raw.pendingActivities ?? []).find((a) => a.activityType?.name === 'captureChanges');
        return pending?.lastFailure?.message ?? undefined;
      },
      RECEIVE_TIMEOUT_MS + 26_000,
      100,
    );
    const noticedMs = Date.now() - cutAt;
    expect(failure).toMatch(
      /nothing received from the server \(host=10\.200\.\d+\.2 port=\d+ dbname=app user=\w+\) for \d+\.\d s, past capture\.receiveTimeout \(4 s\)/,
    );
    // Within the timeout plus one check period and the activity's failure round trip, not minutes.
    expect(noticedMs).toBeLessThan(RECEIVE_TIMEOUT_MS + 4000);
    // What an operator sees (the repository's failure record; the source is unreachable too).
    const check = await runPgincr(['check'], rig.configPath);
    // (The retry may have failed meanwhile too, connecting: the record holds the latest failure.)
    expect(check.out).toMatch(/capture\.failing .*(nothing received from the server|cannot connect to the source \(host=10\.200\.)/);
    mark('noticed');

    // The link returns: the next attempt connects and streams again, from the durable end.
    link!.heal();
    const healedAt = Date.now();
    const afterHeal = await currentLsn(pg, 'app');
    await waitSlotConfirms(pg, afterHeal, 120_000);
    const recoverMs = Date.now() - healedAt;
    expect(await captureAttempt(rig, capture)).toBeGreaterThanOrEqual(2);
    mark('recovered');
    await workload.advance(100, 120_000);

    const finished = await finishCapture(rig, workload, capture);
    expect(finished.state).toBe('stopped');
    const audit = await auditXids(pg, 'app', rig.chainDir());
    mark('audited');
    const total = (await pg.query<{ n: number }>('SELECT count(*)::int AS n FROM crash_log', [], 'app'))[0]!.n;
    const restoredRows = async () => {
      const exists = await pg.query("SELECT 1 FROM pg_database WHERE datname = 'app_restored'");
      if (exists.length === 0) return 0;
      const [table] = await pg.query<{ t: string | null }>("SELECT to_regclass('public.crash_log')::text AS t", [], 'app_restored');
      if (!table?.t) return 0;
      return (await pg.query<{ n: number }>('SELECT count(*)::int AS n FROM crash_log', [], 'app_restored'))[0]!.n;
    };
    let restoreEqual = false;
    let restoreNote = '';
    let restoreRecoverMs: number | null = null;
    try {
      const restore = await rig.client.workflow.start('restoreWorkflow', {
        taskQueue: rig.taskQueue,
        workflowId: rig.workflowId('restore-app_restored'),
        args: [{ profile: 'default', targetProfile: 'admin', targetDb: 'app_restored' }],
      });
      // Cut once the segments' rows arrive (the base has none: it predates the load), mid-apply.
      const before = await waitForValue(
        'the restore to apply segments',
        async () => ((await restoredRows()) > 0 ? await restoredRows() : undefined),
        120_000,
        20,
      );
      link!.cut();
      const restoreCutAt = Date.now();
      const cutRows = await restoredRows();
      expect(cutRows).toBeLessThan(total); // the cut came mid-apply
      // The apply notices: its activity fails with the watchdog's error, not after the OS's minutes.
      const applyFailure = await waitForValue(
        'the apply activity to fail on the cut',
        async () => {
          const d = await restore.describe();
          const pending = (d.raw.pendingActivities ?? []).find((a) => a.activityType?.name === 'applySegments');
          const message = pending?.lastFailure?.message;
          return message?.includes('restore.receiveTimeout') ? message : undefined;
        },
        3 * RECEIVE_TIMEOUT_MS + 30_000,
        100,
      );
      const restoreNoticedMs = Date.now() - restoreCutAt;
      expect(applyFailure).toMatch(
        /restore apply: nothing received from the target server \(host=10\.200\.\d+\.2 port=\d+ dbname=app_restored user=\w+\) for \d+\.\d s with a statement outstanding, past restore\.receiveTimeout \(4 s\), and a new connection could not ask the server either/,
      );
      // The timeout, then the check's own (at most the timeout), a check period and the failure's round trip.
      expect(restoreNoticedMs).toBeLessThan(2 * RECEIVE_TIMEOUT_MS + 6000);
      const stalledRows = await restoredRows();
      mark('restore cut');
      link!.heal();
      const restoreHealedAt = Date.now();
      await restore.result();
      restoreRecoverMs = Date.now() - restoreHealedAt;
      const attempts = ((await restore.fetchHistory()).events ?? []).map((e) => e.activityTaskStartedEventAttributes?.attempt ?? 1);
      expect(Math.max(...attempts)).toBeGreaterThanOrEqual(2); // the apply was retried, and resumed
      restoreNote = `; restore cut mid-apply (${before}..${stalledRows} of ${total} rows), noticed in ${(restoreNoticedMs / 1000).toFixed(1)} s (restore.receiveTimeout 4 s), completed ${(restoreRecoverMs / 1000).toFixed(1)} s after the link returned`;
      await checkRestored(rig, 'app_restored');
      restoreEqual = true;
      mark('restored');
    } finally {
      process.stderr.write(`network cut phases: ${mark.report()}\n`);
      reportFault({
        fault: 'network cut worker-PostgreSQL',
        lost: audit.lost.length,
        doubled: audit.doubled.length,
        restoreEqual,
        recoverMs,
        detail: `capture noticed in ${(noticedMs / 1000).toFixed(1)} s (receiveTimeout 4 s); ${workload.committed.size} transactions, ${audit.sealedVerified} sealed segments verified${restoreNote}`,
      });
      // The restore's own row: time to recover from the link back until the restore completed.
      reportFault({
        fault: 'network cut during restore apply',
        lost: audit.lost.length,
        doubled: audit.doubled.length,
        restoreEqual,
        recoverMs: restoreRecoverMs,
        detail: restoreNote.replace(/^; /, ''),
      });
    }
    expect(audit.lost).toEqual([]);
    expect(audit.doubled).toEqual([]);
  });
});
