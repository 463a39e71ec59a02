/**
 * Operating an S3 repository (docs/s3-repository.md, "Operating it"), one versitygw and one
 * cluster: worker A captures `pgbench` into the bucket.
 * - Upload outage: the S3 server is stopped while transactions keep committing; `pgincr check
 *   --nagios` on A's host turns CRITICAL naming the upload lag and the failed uploads; the server
 *   restarts, the capture catches up by itself, and the check is OK again.
 * - `pgincr verify --checkpoint` from worker B, which has an empty folder and its own task queue.
 * - `pgincr list`, `log` and `check` from host C: the bucket only (no Temporal reachable, nothing
 *   downloaded into its folder).
 * - The bucket's prefix downloaded with a plain S3 client (ListObjectsV2 + GetObject into a
 *   folder, as `aws s3 cp --recursive` does): `list` and `log` on that folder as a local
 *   repository print what C printed from the bucket, and docs/restore.md's manual runbook restores
 *   it to a database equal to the source.
 */
import { execFile, execFileSync, spawnSync } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { Readable } from 'node:stream';
import { GetObjectCommand, paginateListObjectsV2 } from '@aws-sdk/client-s3';
import type { Client } from 'pg';
import { TEST_NAMESPACE } from '../../helpers/temporal';
import { waitFor, waitForValue } from '../../helpers/wait';
import { tableSums } from '../../helpers/workload';
import { type S3TestServer } from '../../helpers/s3-server';
import { freePort } from '../../../src/adapters/net/free-port';
import { PREFIX, type Run, expectOk, s3TestBed, waitSlotReleased } from './s3-rig';

jest.setTimeout(900_000);

const PROFILE = 's3ops';
const ROOT = resolve(__dirname, '../../..');
/** Small thresholds so an outage of seconds crosses them (the defaults are 5m/15m and 1/5). */
const ALERTS = { uploadLagWarning: '12s', uploadLagCritical: '20s', uploadFailuresWarning: 1, uploadFailuresCritical: 2 };

/** docs/restore.md's ```bash blocks, in order (as test/integration/manual-restore.test.ts runs them). */
function runbookBlocks(): string[] {
  const text = readFileSync(join(ROOT, 'docs/restore.md'), 'utf8');
  return [...text.matchAll(/^```bash\n([\s\S]*?)^```$/gm)].map((m) => m[1] as string);
}

/** Every object under the prefix into `into`, keys as paths: what a recursive download with any S3 client gives. */
async function plainDownload(s3: S3TestServer, prefix: string, into: string): Promise<number> {
  let n = 0;
  for await (const page of paginateListObjectsV2({ client: s3.client }, { Bucket: s3.bucket, Prefix: `${prefix}/` })) {
    for (const o of page.Contents ?? []) {
      const file = join(into, o.Key!.slice(prefix.length + 1));
      mkdirSync(dirname(file), { recursive: true });
      const got = await s3.client.send(new GetObjectCommand({ Bucket: s3.bucket, Key: o.Key! }));
      await pipeline(got.Body as Readable, createWriteStream(file));
      n++;
    }
  }
  return n;
}

describe('S3 repository operations: upload outage in check, verify from an empty worker, list/log/check from the bucket, the runbook on a plain download', () => {
  const bed = s3TestBed({ name: 's3-ops', profile: PROFILE });
  let writer: Client | undefined;
  bed.onTeardown('close the trickle writer', () => writer?.end());

  it('runs', async () => {
    const { pg, s3, dir, taskQueue } = bed;
    const ok = expectOk;
    const a = bed.environment('worker-a', { extra: { alerts: ALERTS } });
    await a.startWorker();
    ok(await a.cli(['setup']));
    execFileSync('pgbench', ['-i', '-s', '1', '-q', 'app'], { env: { ...process.env, ...pg.env('app') }, stdio: 'pipe' });
    execFileSync('pgbench', ['-c', '2', '-T', '3', '-n', 'app'], { env: { ...process.env, ...pg.env('app') }, stdio: 'pipe' });

    // --- The bucket goes away while transactions keep committing.
    writer = await pg.connect('app');
    await writer.query('CREATE TABLE public.trickle (id bigserial PRIMARY KEY, at timestamptz DEFAULT now())');
    let trickling = true;
    const trickle = (async () => {
      while (trickling) {
        await writer.query('INSERT INTO public.trickle DEFAULT VALUES');
        await new Promise((r) => setTimeout(r, 250));
      }
    })();
    trickle.catch(() => undefined); // a failed test closes the connection under it
    const nagios = async () => {
      const r = await a.cli(['check', '--nagios']);
      return { ...r, first: r.stdout.split('\n')[0] ?? '' };
    };
    await waitFor('the check to see the trickle uploaded', async () => /upload_lag=\d+s/.test((await nagios()).first), 60_000, 1000);
    await s3.outage();
    const outageAt = Date.now();
    const critical = await waitForValue(
      'check --nagios to report the upload lag as CRITICAL',
      async () => {
        // The failures in a row turn CRITICAL first; wait for the lag itself to pass its threshold.
        const r = await nagios();
        const lag = Number(/upload_lag=(\d+)s;12;20;0/.exec(r.first)?.[1]);
        return r.code === 2 && /upload lag/.test(r.first) && lag >= 20 ? r : undefined;
      },
      180_000,
      2000,
    );
    expect(critical.first).toMatch(/^PGINCR CRITICAL - .*upload lag [^:]+: the oldest transaction not yet in the bucket \(in .+\) committed/);
    expect(critical.first).toMatch(/upload\(s\) failed in a row/);
    const lag = Number(/upload_lag=(\d+)s;12;20;0/.exec(critical.first)?.[1]);
    expect(lag).toBeGreaterThanOrEqual(20);
    expect(lag).toBeLessThanOrEqual(Math.ceil((Date.now() - outageAt) / 1000) + 15); // the lag is the outage's (plus at most a seal's age), not older
    expect(Number(/upload_failures=(\d+);1;2;0/.exec(critical.first)?.[1])).toBeGreaterThanOrEqual(2);
    expect(critical.stdout).toMatch(/check the bucket endpoint, the network and the worker credentials/);

    await s3.restart();
    const recovered = await waitForValue(
      'the capture to upload again and the check to be OK',
      async () => {
        const r = await a.cli(['--json', 'check']);
        if (r.code !== 0 && r.code !== 1) return undefined;
        const report = JSON.parse(r.stdout) as { findings: { check: string; severity: string; value?: number }[] };
        const lagFinding = report.findings.find((f) => f.check === 'upload.lag');
        const failures = report.findings.find((f) => f.check === 'upload.failures');
        return lagFinding?.severity === 'ok' && failures?.value === 0 ? { lagFinding, report } : undefined;
      },
      240_000,
      2000,
    );
    expect(recovered.lagFinding.value).toBeLessThan(12);
    trickling = false;
    await trickle;

    // --- verify from worker B: an empty folder, its own task queue, only the bucket and the database shared.
    const b = bed.environment('worker-b', { taskQueue: `${bed.taskQueue}-b` });
    await b.startWorker();
    const verify = await b.cli(['verify', '--checkpoint']);
    ok(verify);
    expect(verify.stdout).toMatch(/^OK: verified \(base \S+ → \S+\)/m);

    // --- Everything sealed and in the bucket.
    const source = { sums: await tableSums(pg, 'app') };
    ok(await a.cli(['capture', 'stop']));
    await waitSlotReleased(pg);
    const chain = readdirSync(a.spool).find((n) => /^\d+-app$/.test(n))!;

    // --- Host C: the bucket only. No Temporal answers there, nothing is downloaded.
    const closed = await freePort();
    const c = bed.environment('host-c', { extra: { temporal: { address: `127.0.0.1:${closed}`, namespace: TEST_NAMESPACE, taskQueue } } });
    const logArgs = ['log', '--tables', 'public.pgbench_branches,public.trickle', '--kind', 'UPDATE,INSERT', '--limit', '20'];
    const fromBucket = { list: await c.cli(['list']), log: await c.cli(logArgs), check: await c.cli(['check']) };
    ok(fromBucket.list);
    ok(fromBucket.log);
    expect(fromBucket.list.stdout.split('\n')[0]).toBe(`chain s3://${s3.bucket}/${PREFIX}/${chain}`);
    expect(fromBucket.list.stdout).toMatch(/restorable: from \S+ \(\S+\) to \S+ \(/);
    expect(fromBucket.log.stdout).toMatch(/^20 transaction\(s\) \(--limit 20 reached\)$/m);
    expect(fromBucket.check.stdout).toMatch(/last full backup .* ago/);
    expect(fromBucket.check.stdout).toMatch(/last sealed segment .* ago/);
    expect(fromBucket.check.stdout).not.toMatch(/cannot read the catalog/);
    expect(fromBucket.check.stdout).toMatch(/last verification passed/); // B's verify, recorded in the bucket's catalog
    for (const folder of ['segments', 'base', 'catalog']) expect(existsSync(join(c.spool, chain, folder))).toBe(false);

    // --- A plain download of the prefix is a local repository: the same listing and log, and the manual runbook restores it.
    const download = join(dir, 'download');
    // The capture still seals by age: a download between two equal bucket listings is a snapshot of what they list.
    let bucketList: Run | undefined;
    for (let attempt = 1; attempt <= 5; attempt++) {
      rmSync(download, { recursive: true, force: true });
      const before = await c.cli(['list']);
      expect(await plainDownload(s3, PREFIX, download)).toBeGreaterThan(5);
      bucketList = await c.cli(['list']);
      if (bucketList.stdout === before.stdout) break;
    }
    const localConfig = join(dir, 'local.json');
    const { host, port, user } = pg.profile('app');
    writeFileSync(
      localConfig,
      JSON.stringify({
        repository: download,
        profiles: { [PROFILE]: { host, port, dbname: 'app', user } },
        defaultProfile: PROFILE,
        temporal: { address: `127.0.0.1:${closed}`, namespace: TEST_NAMESPACE, taskQueue },
      }),
    );
    const local = (args: string[]) =>
      new Promise<Run>((done) =>
        execFile(
          join(ROOT, 'bin/pgincr'),
          [...args, '--config', localConfig],
          { cwd: dir, env: { ...process.env, PGINCR_LOG_PRETTY: '0' } },
          (err, stdout, stderr) => done({ code: err ? ((err as { code?: number }).code ?? -1) : 0, stdout, stderr }),
        ),
      );
    const fromFolder = { list: await local(['list']), log: await local(logArgs) };
    ok(fromFolder.list);
    expect(fromFolder.list.stdout.split('\n')[0]).toBe(`chain ${join(download, chain)}`);
    expect(fromFolder.list.stdout.split('\n').slice(1)).toEqual(bucketList!.stdout.split('\n').slice(1));
    expect(fromFolder.log.stdout).toBe(fromBucket.log.stdout);

    const base = readdirSync(join(download, chain, 'base'))[0]!;
    const work = mkdtempSync(join(tmpdir(), 'pgincr-s3-runbook-'));
    const r = spawnSync('bash', ['-e', '-c', runbookBlocks().join('\n')], {
      env: { ...process.env, ...pg.env(), CHAIN: join(download, chain), BASE: base, DB: 'app_manual', STOP_TIME: '', WORK: work },
      encoding: 'utf8',
    });
    rmSync(work, { recursive: true, force: true });
    expect(r.stderr).not.toMatch(/ERROR(?!:\s+role .* already exists)/);
    expect({ status: r.status, stdout: r.stdout }).toMatchObject({ status: 0, stdout: expect.stringMatching(/^OK$/m) });
    expect(await tableSums(pg, 'app_manual')).toEqual(source.sums);
    bed.passed();
  });
});
