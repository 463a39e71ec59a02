/**
 * Losing the capture worker's host with an S3 repository: worker A is SIGKILLed mid-pgbench and
 * its folder deleted; worker B (same task queue, its own empty folder) takes the capture over
 * from the bucket and the slot. Nothing lost, nothing doubled: pgbench_history has no key, so a
 * transaction replayed twice or missing changes its sums; the restore equals the source. The
 * slot's confirmed position is sampled against the bucket's end the whole time.
 */
import { execFileSync, spawn } from 'node:child_process';
import { readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { waitFor } from '../../helpers/wait';
import { sequenceValues, tableSums } from '../../helpers/workload';
import { bucketEnd, confirmedFlush, stopWorker, expectOk, s3TestBed, waitSlotReleased } from './s3-rig';

jest.setTimeout(600_000);

const PROFILE = 's3failover';

describe('S3 repository: the capture worker killed and its folder deleted mid-workload', () => {
  const bed = s3TestBed({ name: 's3-failover', profile: PROFILE });

  it('worker B resumes the capture from the bucket: nothing lost, nothing doubled, the slot never ahead of the bucket', async () => {
    const { pg, s3, dir } = bed;
    const a = bed.environment('worker-a');
    const b = bed.environment('worker-b');
    const workerA = await a.startWorker();
    const setup = await a.cli(['setup']);
    expectOk(setup);
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
    await b.startWorker();
    const endAtKill = samples.at(-1)!.bucket;
    await waitFor('worker B to upload past where A stopped', async () => (await bucketEnd(s3, chain)) > endAtKill, 120_000, 500);

    expect(await benchDone).toBe(0);
    await sampling;
    expect(samples.filter((s) => s.confirmed > s.bucket && s.bucket > 0n)).toEqual([]);

    const final = { sums: await tableSums(pg, 'app'), sequences: await sequenceValues(pg, 'app') };
    const stop = await b.cli(['capture', 'stop']);
    expectOk(stop);
    await waitSlotReleased(pg);
    const restore = await b.cli(['restore', '--target-db', 'app_restored']);
    expectOk(restore);
    expect(await tableSums(pg, 'app_restored')).toEqual(final.sums);
    expect(await sequenceValues(pg, 'app_restored')).toEqual(final.sequences);
    bed.passed();
  });
});
