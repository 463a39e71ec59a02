/**
 * An S3 repository driven as docs/s3-repository.md tells a user: its configuration example
 * (this test's bucket on versitygw, cluster and Temporal server filled in), credentials only in
 * the AWS environment, worker A started with `bin/pgincr worker`, `bin/pgincr setup`, `pgbench -i`
 * after setup, then pgbench while the slot's confirmed_flush_lsn is sampled against what the
 * bucket holds. Then worker A is stopped and its folder deleted; worker B, with an empty folder
 * of its own, restores from the bucket, and the restore equals the source.
 */
import { spawn, execFileSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { sequenceValues, tableSums } from '../../helpers/workload';
import { bucketEnd, confirmedFlush, stopWorker, expectOk, s3TestBed } from './s3-rig';
import { parseLsn } from '../../../src/core/lsn';

jest.setTimeout(600_000);

const PROFILE = 's3app';

describe('S3 repository: capture on worker A, restore on worker B that shares only the bucket and the database', () => {
  const bed = s3TestBed({ name: 's3-e2e', profile: PROFILE });

  function pgbench(args: string[]): void {
    execFileSync('pgbench', [...args, 'app'], { env: { ...process.env, ...bed.pg.env('app') }, stdio: 'pipe' });
  }

  it('setup, pgbench, the slot never ahead of the bucket, stop, restore from an empty worker equal to the source', async () => {
    const { pg, s3, dir } = bed;
    const a = bed.environment('worker-a');
    const b = bed.environment('worker-b');
    const workerA = await a.startWorker();

    const setup = await a.cli(['setup']);
    expectOk(setup);
    pgbench(['-i', '-s', '1', '-q']);

    // While pgbench runs: the slot's confirmed position, read first, never passes the end of what the bucket holds, read after.
    const chain = readdirSync(a.spool).find((n) => /^\d+-app$/.test(n))!;
    const samples: Array<{ confirmed: bigint; bucket: bigint }> = [];
    const bench = spawn('pgbench', ['-c', '2', '-T', '10', '-n', 'app'], { env: { ...process.env, ...pg.env('app') }, stdio: 'ignore' });
    const benchDone = new Promise<number | null>((r) => bench.once('exit', r));
    let running = true;
    void benchDone.then(() => (running = false));
    // Sampled on after pgbench ends until the age seal of its last changes is uploaded too (at most 30 s more):
    // how many seals fall inside pgbench's 10 s depends on how fast the machine is.
    const distinct = () => new Set(samples.map((s) => s.bucket)).size;
    let sampleUntil = Infinity;
    while (running || (distinct() <= 2 && Date.now() < sampleUntil)) {
      if (!running && sampleUntil === Infinity) sampleUntil = Date.now() + 30_000;
      const confirmed = await confirmedFlush(pg); // first the slot, then the bucket: both only move forward
      samples.push({ confirmed, bucket: await bucketEnd(s3, chain) });
      await new Promise((r) => setTimeout(r, 500));
    }
    expect(await benchDone).toBe(0);
    expect(samples.filter((s) => s.confirmed > s.bucket && s.bucket > 0n)).toEqual([]);
    expect(new Set(samples.map((s) => s.bucket)).size).toBeGreaterThan(2); // segments sealed by age and uploaded while it ran

    const final = { sums: await tableSums(pg, 'app'), sequences: await sequenceValues(pg, 'app') };
    // Asked from worker B's environment: the request reaches the capture on A through the bucket.
    // `capture stop` returns once the capture has ended: its last segment sealed and in the bucket. (It once
    // returned at the signal; the slot is free between the cancelled run and the last one that seals, and a
    // worker stopped then left the last changes to a retry on B, after B's restore had read the bucket.)
    const stop = await b.cli(['capture', 'stop']);
    expect({ code: stop.code, stdout: stop.stdout, stderr: stop.stderr }).toMatchObject({
      code: 0,
      stdout: expect.stringMatching(/^capture stopped: \S+ sealed its last segment; durable through [0-9A-F]+\/[0-9A-F]+/),
    });
    const durable = /durable through (\S+)/.exec(stop.stdout)![1]!;
    expect(await bucketEnd(s3, chain)).toBeGreaterThanOrEqual(parseLsn(durable)); // sealed on stop and uploaded
    expect(await bucketEnd(s3, chain)).toBeGreaterThanOrEqual((await confirmedFlush(pg)) - 1024n * 1024n);

    // The bucket holds the repository's layout: what a plain download gives the manual runbook.
    const stored = join(s3.dataDir, s3.bucket, 'prod/pgincr', chain);
    expect(readdirSync(join(stored, 'base')).length).toBe(1);
    const base = readdirSync(join(stored, 'base'))[0]!;
    for (const f of ['dump.sql.gz', 'globals.sql', 'metadata.json', 'checksums.json']) expect(existsSync(join(stored, 'base', base, f))).toBe(true);
    expect(existsSync(join(stored, 'catalog', 'catalog.json'))).toBe(true);
    expect(existsSync(join(stored, 'segments', 'partial'))).toBe(false);

    // Worker A and its disk are gone; B has an empty folder and the bucket.
    await stopWorker(workerA);
    rmSync(join(dir, 'worker-a'), { recursive: true, force: true });
    expect(existsSync(b.spool)).toBe(false);
    await b.startWorker();
    const list = await b.cli(['list']);
    expect({ code: list.code, stdout: list.stdout }).toMatchObject({ code: 0, stdout: expect.stringMatching(/restorable: from \S+ \(\S+\) to \S+ \(/) });
    const restore = await b.cli(['restore', '--target-db', 'app_restored']);
    expectOk(restore);
    expect(await tableSums(pg, 'app_restored')).toEqual(final.sums);
    expect(await sequenceValues(pg, 'app_restored')).toEqual(final.sequences);

    // The bucket's catalog lost: `catalog rebuild` from a worker with the bucket recreates it from the bucket's files.
    const catalogFile = join(stored, 'catalog', 'catalog.json');
    const before = JSON.parse(readFileSync(catalogFile, 'utf8')) as { segments: unknown[]; bases: unknown[] };
    rmSync(catalogFile);
    rmSync(join(b.spool, chain), { recursive: true, force: true }); // nor a copy on the worker
    const rebuild = await b.cli(['catalog', 'rebuild']);
    expect({ code: rebuild.code, stdout: rebuild.stdout }).toMatchObject({
      code: 0,
      stdout: expect.stringContaining(`catalog rebuilt: 1 bases, ${before.segments.length} segments`),
    });
    const after = JSON.parse(readFileSync(catalogFile, 'utf8')) as { segments: unknown[]; bases: unknown[] };
    expect([after.bases.length, after.segments.length]).toEqual([1, before.segments.length]);
    bed.passed();
  });
});
