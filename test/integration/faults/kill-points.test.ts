/**
 * Fault gauntlet, item 1 (issue 18): the capture worker — a real `pgincr worker` process, the
 * capture running as a workflow — is SIGKILLed under a pgbench-like load plus a bulk writer
 * (transactions larger than the writer's 1 MiB buffer), then restarted, again and again.
 *
 * The kills are made to happen, not hoped for: a worker started with `PGINCR_FAULT_POINT=<name>@<n>`
 * (test-only, src/adapters/fault-point.ts) SIGKILLs itself the n-th time it reaches that point
 * (mid-transaction, mid-fsync, mid-rotation, mid-gzip, mid-catalog-update, mid-continue-as-new),
 * and the test checks from its log and exit that it died there. The first kill is at a random
 * moment instead (the setup worker, killed by the test). One worker runs at a time, so the armed
 * one is the one that captures. The plan (points, hit counts, delay) comes from a printed seed:
 * `PGINCR_FAULT_SEED=<seed>` replays it; `PGINCR_FAULT_KILLS=<n>` named points per run (default 1;
 * `npm run faults -- --runs N --only kill-points` for the nightly soak, each run a new seed).
 *
 * After the kills: every xid the source committed is in exactly one BEGIN marker, every sealed
 * segment's footer verifies, no segment is on disk twice (.sql beside its .gz), the catalog lists
 * every sealed file, and a restore equals the source.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Client as PgClient } from 'pg';
import type { WorkflowHandle } from '@temporalio/client';
import { startCluster, type PgCluster } from '../../helpers/pg-cluster';
import { waitFor } from '../../helpers/pgincr-env';
import { FAULT_POINTS, type FaultPointName } from '../../../src/adapters/fault-point';
import { listSealedSegments } from '../../../src/adapters/fs/segment-files';
import { loadCatalog } from '../../../src/adapters/fs/catalog-store';
import { CrashRig, currentLsn, delay, tail, timer, waitSlotConfirms, Workload, type WorkerProcess } from '../crash/crash-rig';
import { checkRestored, finishCapture, preparePgbenchDatabase, runSetup } from '../crash/capture-scenario';
import { auditXids, faultSeed, reportFault, segmentXids, seededRandom } from './fault-rig';
import { teardown, teardownTimeout } from '../../helpers/teardown';

jest.setTimeout(420_000);

const NAMED_KILLS = Number(process.env.PGINCR_FAULT_KILLS ?? 1);
/** Hit counts are drawn from 1..max: points reached often (every fsync) get a later hit. */
const MAX_HIT: Record<FaultPointName, number> = {
  'mid-transaction': 2,
  'mid-fsync': 40,
  'mid-rotation': 3,
  'mid-gzip': 3,
  'mid-catalog-update': 3,
  'mid-continue-as-new': 1,
};
/** How long an armed worker may run before its point must have been reached. */
const POINT_DEADLINE_MS = 120_000;

type Kill = { kind: 'random'; delayMs: number } | { kind: 'point'; point: FaultPointName; hit: number };

/** The first kill at a random moment, then `named` kill points in turn from a seeded start. */
function killPlan(seed: number, named: number): Kill[] {
  const random = seededRandom(seed);
  const plan: Kill[] = [{ kind: 'random', delayMs: 300 + Math.floor(random() * 4000) }];
  const first = Math.floor(random() * FAULT_POINTS.length);
  for (let i = 0; i < named; i++) {
    const point = FAULT_POINTS[(first + i) % FAULT_POINTS.length] as FaultPointName;
    plan.push({ kind: 'point', point, hit: 1 + Math.floor(random() * MAX_HIT[point]) });
  }
  return plan;
}

const armedEnv = (kill: Kill | undefined) => ({ PGINCR_FAULT_POINT: kill?.kind === 'point' ? `${kill.point}@${kill.hit}` : '' });

/**
 * Transactions larger than the segment writer's 1 MiB buffer, so a write reaches the file while
 * the transaction is open (the mid-transaction point); each also inserts a crash_log row, so the
 * xid audit covers them.
 */
class BulkWriter {
  committed = 0;
  private stopping = false;
  private loop: Promise<void> | undefined;
  constructor(
    private readonly pg: PgCluster,
    private readonly db: string,
  ) {}

  start(): this {
    this.loop = this.run();
    return this;
  }

  async stop(): Promise<void> {
    this.stopping = true;
    await this.loop;
  }

  private async run(): Promise<void> {
    let client: PgClient | undefined;
    for (let batch = 1; !this.stopping; batch++) {
      try {
        client ??= await this.pg.connect(this.db);
        await client.query('BEGIN');
        await client.query('INSERT INTO bulk_log (batch, pad) SELECT $1, repeat(md5(g::text), 6) FROM generate_series(1, 4500) g', [batch]);
        await client.query('INSERT INTO crash_log (k, client) VALUES ($1, 99)', [-batch]);
        await client.query('COMMIT');
        this.committed += 1;
      } catch {
        await client?.end().catch(() => undefined);
        client = undefined;
      }
      await delay(5000);
    }
    await client?.end().catch(() => undefined);
  }
}

describe('fault: random kill points (capture worker SIGKILL)', () => {
  let pg: PgCluster;
  let rig: CrashRig;
  let workload: Workload | undefined;
  let bulk: BulkWriter | undefined;
  const seed = faultSeed('kill-points');
  const plan = killPlan(seed, NAMED_KILLS);
  const mark = timer();

  beforeAll(async () => {
    pg = await startCluster();
    await preparePgbenchDatabase(pg, 'app');
    await pg.query('CREATE TABLE public.bulk_log (id bigserial PRIMARY KEY, batch int NOT NULL, pad text NOT NULL)', [], 'app');
    // gzip (the default) so the mid-gzip point exists; small segments so rotations are frequent.
    rig = await CrashRig.create(pg, 'app', 'kill-points', { capture: { segmentMaxBytes: 48 * 1024, compress: 'gzip' } });
  }, 120_000);
  afterAll(async () => {
    process.stderr.write(`kill-points timings: ${mark.report()}\n`);
    await teardown([
      ['stop the bulk writer', () => bulk?.stop()],
      ['stop the workload', () => workload?.stop()],
      ['close the rig (its workers)', () => rig?.close()],
      ['stop the cluster', () => pg?.stop()],
    ]);
  }, teardownTimeout(4));

  /** Fails a capture attempt still pending on a dead worker: stands in for the 20 s heartbeat timeout (the worker-kill test waits it out). */
  async function failDeadAttempt(capture: WorkflowHandle, dead: WorkerProcess): Promise<void> {
    for (const a of await rig.pendingActivities(capture)) {
      if (a.type !== 'captureChanges' || !a.started || Number(a.workerIdentity.split('@')[0]) !== dead.pid) continue;
      await rig.client.activity
        .fail({ workflowId: capture.workflowId, activityId: a.activityId }, new Error(`worker ${dead.pid} SIGKILLed by the fault test`))
        .catch(() => undefined);
    }
  }

  it(`loses and doubles nothing across the kills, and the restore equals the source (seed ${seed})`, async () => {
    process.stderr.write(`kill-points plan: ${JSON.stringify(plan)}\n`);
    let worker = await rig.startWorker(armedEnv(undefined));
    mark('worker');
    expect((await runSetup(rig)).status).toBe('set up');
    mark('setup');
    workload = new Workload(pg, 'app', { clients: 2, pauseMs: 5 }).start();
    bulk = new BulkWriter(pg, 'app').start();
    // As a user starts it in the Temporal UI; short runs and two runs per execution, so continue-as-new comes every few seconds.
    const capture = await rig.client.workflow.start('captureWorkflow', {
      taskQueue: rig.taskQueue,
      workflowId: rig.workflowId('capture'),
      args: [{ profile: 'default', runForMs: 3000, runsPerExecution: 2 }],
    });
    await workload.advance(100, 120_000);

    const done: { kill: string; worker: number; atCommitted: number; diedAfterMs: number }[] = [];
    let lastDeathAt = 0;
    let lsnAtLastDeath = '0/0';
    for (const [i, kill] of plan.entries()) {
      const started = Date.now();
      if (kill.kind === 'random') {
        await delay(kill.delayMs); // a random moment, not a stand-in for a condition
        await rig.kill(worker);
      } else {
        const point = `"faultPoint":"${kill.point}"`;
        await waitFor(
          `worker ${worker.pid} to SIGKILL itself at ${kill.point}@${kill.hit} (seed ${seed}; log ${worker.logFile})`,
          async () => !worker.alive(),
          POINT_DEADLINE_MS,
          100,
        ).catch((error: Error) => {
          throw new Error(`${error.message}\n${tail(worker.logFile)}`);
        });
        const log = readFileSync(worker.logFile, 'utf8');
        if (!log.includes(point)) throw new Error(`worker ${worker.pid} exited, but not at ${kill.point} (seed ${seed}):\n${tail(worker.logFile)}`);
        expect(await worker.exited).toBeNull(); // killed by a signal (SIGKILL), not an exit
      }
      lastDeathAt = Date.now();
      lsnAtLastDeath = await currentLsn(pg, 'app');
      done.push({
        kill: kill.kind === 'random' ? `random after ${kill.delayMs} ms` : `${kill.point}@${kill.hit}`,
        worker: worker.pid,
        atCommitted: workload.committed.size,
        diedAfterMs: lastDeathAt - started,
      });
      mark(`kill ${i + 1}`);
      await failDeadAttempt(capture, worker);
      // Whatever the point, no sealed segment is half-written (each footer verifies) and no xid is written twice: checked after each kill.
      const { counts } = await segmentXids(rig.chainDir());
      expect([...counts].filter(([, n]) => n > 1)).toEqual([]);
      worker = await rig.startWorker(armedEnv(plan[i + 1]));
      mark(`worker ${i + 2}`);
    }

    // The last worker is not armed: the capture catches up past the last kill.
    await waitSlotConfirms(pg, lsnAtLastDeath, 180_000);
    const recoverMs = Date.now() - lastDeathAt;
    mark('recovered');
    await workload.advance(50, 120_000);
    await bulk.stop();
    const status = await finishCapture(rig, workload, capture);
    expect(status.state).toBe('stopped');
    mark('stopped');

    const chain = rig.chainDir();
    const audit = await auditXids(pg, 'app', chain);
    const sealed = await listSealedSegments(chain);
    // A kill between a gzip's rename and the .sql's removal left both: the next start removed the .sql.
    const twice = sealed.flatMap((s) => (s.compressed && existsSync(s.path.replace(/\.gz$/, '')) ? [s.file] : []));
    const listed = new Set((await loadCatalog(chain))?.segments.map((s) => s.file));
    const unlisted = sealed.filter((s) => !listed.has(s.file)).map((s) => s.file);
    const leftovers = readdirSync(join(chain, 'segments', 'partial'));
    let restoreEqual = false;
    try {
      await rig.client.workflow.execute('restoreWorkflow', {
        taskQueue: rig.taskQueue,
        workflowId: rig.workflowId('restore-app_restored'),
        args: [{ profile: 'default', targetProfile: 'admin', targetDb: 'app_restored' }],
      });
      await checkRestored(rig, 'app_restored');
      restoreEqual = true;
      mark('restored');
    } finally {
      reportFault({
        fault: 'random kill points (worker SIGKILL)',
        lost: audit.lost.length,
        doubled: audit.doubled.length,
        restoreEqual,
        recoverMs,
        detail: `seed ${seed}: ${done.map((d) => d.kill).join(', ')}; ${workload.committed.size} transactions + ${bulk.committed} bulk, ${audit.sealedVerified} sealed segments verified; recovery includes the replacement worker's start`,
      });
    }
    process.stderr.write(`kill-points kills: ${JSON.stringify(done)}\n`);
    expect(audit.lost).toEqual([]);
    expect(audit.doubled).toEqual([]);
    expect(twice).toEqual([]);
    expect(unlisted).toEqual([]);
    expect(leftovers).toEqual([]);
    expect(bulk.committed).toBeGreaterThan(0);
    expect(audit.sealedVerified).toBeGreaterThan(3);
  });
});
