/**
 * An S3 repository driven as docs/s3-repository.md tells a user: its configuration example
 * (this test's bucket on versitygw, cluster and Temporal server filled in), credentials only in
 * the AWS environment, worker A started with `bin/pgincr worker`, `bin/pgincr setup`, `pgbench -i`
 * after setup, then pgbench while the slot's confirmed_flush_lsn is sampled against what the
 * bucket holds. Then worker A is stopped and its folder deleted; worker B, with an empty folder
 * of its own, restores from the bucket, and the restore equals the source.
 */
import { spawn, execFile, execFileSync, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { startCluster, type PgCluster } from '../../helpers/pg-cluster';
import { temporalAddress, terminateIfRunning } from '../../helpers/temporal';
import { waitFor } from '../../helpers/wait';
import { sequenceValues, tableSums } from '../../helpers/workload';
import { startS3Server, type S3TestServer } from '../../helpers/s3-server';
import { workflowIds } from '../../../src/workflows/ids';
import { ObjectStore } from '../../../src/adapters/s3/object-store';
import { loadStoredCatalog } from '../../../src/adapters/s3/chain-mirror';
import { parseLsn } from '../../../src/core/lsn';

jest.setTimeout(600_000);

const ROOT = resolve(__dirname, '../../..');
const BIN = join(ROOT, 'bin/pgincr');
const PROFILE = 's3app';

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** The first ```json block of docs/s3-repository.md: the configuration example users copy. */
function docConfig(): Record<string, unknown> {
  const doc = readFileSync(join(ROOT, 'docs/s3-repository.md'), 'utf8');
  const block = /```json\n([^]*?)```/.exec(doc);
  if (!block) throw new Error('docs/s3-repository.md has no ```json block');
  return JSON.parse(block[1] as string) as Record<string, unknown>;
}

describe('S3 repository: capture on worker A, restore on worker B that shares only the bucket and the database', () => {
  let pg: PgCluster;
  let s3: S3TestServer;
  let dir: string;
  const workers: ChildProcess[] = [];
  let passed = false;

  /** A worker environment: its own spool folder and config file; credentials in the AWS variables only. */
  function environment(name: string, taskQueue: string) {
    const spool = join(dir, name, 'spool');
    const config = docConfig();
    const repository = config.repository as Record<string, unknown>;
    const { host, port, user } = pg.profile('app');
    const file = join(dir, name, 'pgincr.json');
    execFileSync('mkdir', ['-p', join(dir, name)]);
    writeFileSync(
      file,
      JSON.stringify(
        {
          ...config,
          repository: { ...repository, url: `s3://${s3.bucket}/prod/pgincr`, endpoint: s3.endpoint, region: s3.env.AWS_REGION, spool },
          profiles: { [PROFILE]: { host, port, dbname: 'app', user } },
          defaultProfile: PROFILE,
          capture: { ...(config.capture as object), segmentMaxAge: '5s', heartbeatInterval: '1s', sequenceInterval: '2s' },
          temporal: { address: temporalAddress(), namespace: 'default', taskQueue },
        },
        null,
        2,
      ),
    );
    const env: NodeJS.ProcessEnv = { ...process.env, ...s3.env, PGINCR_LOG_PRETTY: '0' };
    delete env.TEMPORAL_ADDRESS;
    const log = join(dir, name, 'worker.log');
    return {
      spool,
      file,
      cli: (args: string[]): Promise<Run> =>
        new Promise((done) =>
          execFile(BIN, [...args, '--config', file], { cwd: dir, env, timeout: 300_000 }, (err, stdout, stderr) =>
            done({ code: err ? ((err as { code?: number }).code ?? -1) : 0, stdout, stderr }),
          ),
        ),
      async startWorker(): Promise<ChildProcess> {
        const fd = openSync(log, 'a');
        const worker = spawn(BIN, ['worker', '--config', file], { stdio: ['ignore', fd, fd], env });
        closeSync(fd);
        workers.push(worker);
        await waitFor(
          `worker ${name} to start`,
          async () => {
            if (worker.exitCode !== null) throw new Error(`worker ${name} exited ${worker.exitCode}:\n${readFileSync(log, 'utf8').slice(-3000)}`);
            return readFileSync(log, 'utf8').includes('worker started');
          },
          240_000,
          250,
        );
        return worker;
      },
    };
  }

  async function stopWorker(worker: ChildProcess): Promise<void> {
    if (worker.exitCode !== null) return;
    const exited = new Promise((r) => worker.once('exit', r));
    worker.kill('SIGTERM');
    await exited;
  }

  function pgbench(args: string[]): void {
    execFileSync('pgbench', [...args, 'app'], { env: { ...process.env, ...pg.env('app') }, stdio: 'pipe' });
  }

  beforeAll(async () => {
    await terminateIfRunning(workflowIds.capture(PROFILE, 'pgincr'));
    s3 = await startS3Server();
    pg = await startCluster();
    await pg.createDatabase('app');
    dir = mkdtempSync(join(tmpdir(), 'pgincr-s3-e2e-'));
  });

  afterAll(async () => {
    await terminateIfRunning(workflowIds.capture(PROFILE, 'pgincr'));
    for (const w of workers) await stopWorker(w);
    await pg?.stop();
    await s3?.stop();
    if (dir && passed) rmSync(dir, { recursive: true, force: true });
    else if (dir) process.stderr.write(`s3 repository test: kept ${dir} (worker logs, spools) for inspection\n`);
  });

  it('setup, pgbench, the slot never ahead of the bucket, stop, restore from an empty worker equal to the source', async () => {
    const taskQueue = `s3-${process.pid}-${Date.now()}`;
    const a = environment('worker-a', taskQueue);
    const b = environment('worker-b', taskQueue);
    const workerA = await a.startWorker();

    const setup = await a.cli(['setup']);
    expect({ code: setup.code, stderr: setup.stderr }).toMatchObject({ code: 0 });
    pgbench(['-i', '-s', '1', '-q']);

    // While pgbench runs: the slot's confirmed position, read first, never passes the end of what the bucket holds, read after.
    const store = new ObjectStore({ bucket: s3.bucket, prefix: 'prod/pgincr', endpoint: s3.endpoint, forcePathStyle: true }, s3.client);
    const chain = readdirSync(a.spool).find((n) => /^\d+-app$/.test(n))!;
    const bucketEnd = async () => (await loadStoredCatalog(store, chain))?.segments.reduce((max, s) => (parseLsn(s.endLsn) > max ? parseLsn(s.endLsn) : max), 0n) ?? 0n;
    const samples: Array<{ confirmed: bigint; bucket: bigint }> = [];
    const bench = spawn('pgbench', ['-c', '2', '-T', '15', '-n', 'app'], { env: { ...process.env, ...pg.env('app') }, stdio: 'ignore' });
    const benchDone = new Promise<number | null>((r) => bench.once('exit', r));
    let running = true;
    void benchDone.then(() => (running = false));
    while (running) {
      const [slot] = await pg.query<{ lsn: string }>("SELECT confirmed_flush_lsn::text AS lsn FROM pg_replication_slots WHERE slot_name = 'pgincr'");
      samples.push({ confirmed: parseLsn(slot!.lsn), bucket: await bucketEnd() });
      await new Promise((r) => setTimeout(r, 500));
    }
    expect(await benchDone).toBe(0);
    expect(samples.filter((s) => s.confirmed > s.bucket && s.bucket > 0n)).toEqual([]);
    expect(new Set(samples.map((s) => s.bucket)).size).toBeGreaterThan(2); // segments sealed by age and uploaded while it ran

    const final = { sums: await tableSums(pg, 'app'), sequences: await sequenceValues(pg, 'app') };
    // Asked from worker B's environment: the request reaches the capture on A through the bucket.
    const stop = await b.cli(['capture', 'stop']);
    expect({ code: stop.code, stderr: stop.stderr }).toMatchObject({ code: 0 });
    await waitFor(
      'the capture slot to be released',
      async () => (await pg.query("SELECT 1 FROM pg_replication_slots WHERE slot_name = 'pgincr' AND active")).length === 0,
      90_000,
    );
    const [end] = await pg.query<{ lsn: string }>("SELECT confirmed_flush_lsn::text AS lsn FROM pg_replication_slots WHERE slot_name = 'pgincr'");
    expect(await bucketEnd()).toBeGreaterThanOrEqual(parseLsn(end!.lsn) - 1024n * 1024n); // sealed on stop and uploaded

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
    expect({ code: restore.code, stderr: restore.stderr }).toMatchObject({ code: 0 });
    expect(await tableSums(pg, 'app_restored')).toEqual(final.sums);
    expect(await sequenceValues(pg, 'app_restored')).toEqual(final.sequences);
    passed = true;
  });
});
