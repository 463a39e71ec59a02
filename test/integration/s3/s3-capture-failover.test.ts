/**
 * Losing the capture worker's host with an S3 repository: worker A is SIGKILLed mid-pgbench and
 * its folder deleted; worker B (same task queue, its own empty folder) takes the capture over
 * from the bucket and the slot. Nothing lost, nothing doubled: pgbench_history has no key, so a
 * transaction replayed twice or missing changes its sums; the restore equals the source. The
 * slot's confirmed position is sampled against the bucket's end the whole time.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startCluster, type PgCluster } from '../../helpers/pg-cluster';
import { terminateIfRunning } from '../../helpers/temporal';
import { waitFor } from '../../helpers/wait';
import { sequenceValues, tableSums } from '../../helpers/workload';
import { startS3Server, type S3TestServer } from '../../helpers/s3-server';
import { workflowIds } from '../../../src/workflows/ids';
import { bucketEnd, confirmedFlush, stopWorker, workerEnvironment } from './s3-rig';

jest.setTimeout(600_000);

const PROFILE = 's3failover';

describe('S3 repository: the capture worker killed and its folder deleted mid-workload', () => {
  let pg: PgCluster;
  let s3: S3TestServer;
  let dir: string;
  const workers: ChildProcess[] = [];
  let passed = false;

  beforeAll(async () => {
    await terminateIfRunning(workflowIds.capture(PROFILE, 'pgincr'));
    s3 = await startS3Server();
    pg = await startCluster();
    await pg.createDatabase('app');
    dir = mkdtempSync(join(tmpdir(), 'pgincr-s3-failover-'));
  });

  afterAll(async () => {
    await terminateIfRunning(workflowIds.capture(PROFILE, 'pgincr'));
    for (const w of workers) await stopWorker(w);
    await pg?.stop();
    await s3?.stop();
    if (dir && passed) rmSync(dir, { recursive: true, force: true });
    else if (dir) process.stderr.write(`s3 failover test: kept ${dir} (worker logs, spools) for inspection\n`);
  });

  it('worker B resumes the capture from the bucket: nothing lost, nothing doubled, the slot never ahead of the bucket', async () => {
    const taskQueue = `s3-failover-${process.pid}-${Date.now()}`;
    const a = workerEnvironment({ dir, name: 'worker-a', pg, s3, profile: PROFILE, taskQueue });
    const b = workerEnvironment({ dir, name: 'worker-b', pg, s3, profile: PROFILE, taskQueue });
    const workerA = await a.startWorker();
    workers.push(workerA);
    const setup = await a.cli(['setup']);
    expect({ code: setup.code, stderr: setup.stderr }).toMatchObject({ code: 0 });
    execFileSync('pgbench', ['-i', '-s', '1', '-q', 'app'], { env: { ...process.env, ...pg.env('app') }, stdio: 'pipe' });
    const chain = readdirSync(a.spool).find((n) => /^\d+-app$/.test(n))!;

    const samples: Array<{ confirmed: bigint; bucket: bigint }> = [];
    const bench = spawn('pgbench', ['-c', '2', '-T', '25', '-n', 'app'], { env: { ...process.env, ...pg.env('app') }, stdio: 'ignore' });
    const benchDone = new Promise<number | null>((r) => bench.once('exit', r));
    let running = true;
    void benchDone.then(() => (running = false));
    const sampling = (async () => {
      while (running) {
        const confirmed = await confirmedFlush(pg); // first the slot, then the bucket: both only move forward
        samples.push({ confirmed, bucket: await bucketEnd(s3, chain) });
        await new Promise((r) => setTimeout(r, 500));
      }
    })();

    // A has uploaded a few segments; then its host is lost: SIGKILL, and the folder with the open segment gone.
    await waitFor('two segments in the bucket', async () => new Set(samples.map((s) => s.bucket)).size > 2, 60_000, 250);
    await stopWorker(workerA, 'SIGKILL');
    rmSync(join(dir, 'worker-a'), { recursive: true, force: true });
    const workerB = await b.startWorker();
    workers.push(workerB);
    const endAtKill = samples.at(-1)!.bucket;
    await waitFor('worker B to upload past where A stopped', async () => (await bucketEnd(s3, chain)) > endAtKill, 120_000, 500);

    expect(await benchDone).toBe(0);
    await sampling;
    expect(samples.filter((s) => s.confirmed > s.bucket && s.bucket > 0n)).toEqual([]);

    const final = { sums: await tableSums(pg, 'app'), sequences: await sequenceValues(pg, 'app') };
    const stop = await b.cli(['capture', 'stop']);
    expect({ code: stop.code, stderr: stop.stderr }).toMatchObject({ code: 0 });
    await waitFor(
      'the capture slot to be released',
      async () => (await pg.query("SELECT 1 FROM pg_replication_slots WHERE slot_name = 'pgincr' AND active")).length === 0,
      90_000,
    );
    const restore = await b.cli(['restore', '--target-db', 'app_restored']);
    expect({ code: restore.code, stderr: restore.stderr }).toMatchObject({ code: 0 });
    expect(await tableSums(pg, 'app_restored')).toEqual(final.sums);
    expect(await sequenceValues(pg, 'app_restored')).toEqual(final.sequences);
    passed = true;
  });
});
