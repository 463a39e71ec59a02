/**
 * Two promises of issue 15, driven through bin/pgincr as README tells a user, against a real
 * PostgreSQL and Temporal, with README's configuration shape (profiles named `app` and `other`):
 *
 * - "latest" means latest: rows written after setup and NOT rotated (they sit in the open
 *   segment) are in a restore to latest, and its report says the open segment was sealed for it,
 *   which LSN and commit time it reached, and that the capture was running;
 * - `pgincr leftovers` lists what a restore that failed part way left behind (its database, in
 *   another cluster whose base load fails: a table owner that does not exist there) and
 *   `--clean` drops it, while a database pgincr did not make — plain, or one that merely carries
 *   a restore-like comment — is never listed nor touched, nor is a completed restore's database.
 */
import { execFile, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { startCluster, type PgCluster } from '../../helpers/pg-cluster';
import { temporalAddress, terminateIfRunning, TEST_NAMESPACE } from '../../helpers/temporal';
import { workflowIds } from '../../../src/workflows/ids';
import { waitFor } from '../../helpers/pgincr-env';
import { startWorkerProcess, stopWorkerProcess } from '../../helpers/worker-process';

jest.setTimeout(480_000);

const ROOT = resolve(__dirname, '../../..');
const BIN = join(ROOT, 'bin/pgincr');

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

describe('restore to latest and leftovers through bin/pgincr', () => {
  let pg: PgCluster;
  let other: PgCluster;
  let dir: string;
  let configFile: string;
  let worker: ChildProcess | undefined;
  let workerLog: string;
  let passed = false;

  function cli(args: string[]): Promise<Run> {
    const env = { ...process.env };
    delete env.TEMPORAL_ADDRESS;
    return new Promise((done) => {
      execFile(BIN, [...args, '--config', configFile], { cwd: dir, env, timeout: 300_000 }, (err, stdout, stderr) =>
        done({ code: err ? ((err as { code?: number }).code ?? -1) : 0, stdout, stderr }),
      );
    });
  }

  beforeAll(async () => {
    [pg, other] = await Promise.all([startCluster(), startCluster()]);
    await pg.createDatabase('app');
    // A table owned by a role the other cluster lacks: loading the base there fails part way.
    await pg.query('CREATE ROLE alice', [], 'postgres');
    await pg.query(
      'CREATE TABLE items (id int PRIMARY KEY, note text); CREATE TABLE alice_notes (id int PRIMARY KEY); ALTER TABLE alice_notes OWNER TO alice',
      [],
      'app',
    );
    dir = mkdtempSync(join(tmpdir(), 'pgincr-latest-'));
    configFile = join(dir, 'pgincr.json');
    const a = pg.profile('app');
    const o = other.profile('postgres');
    writeFileSync(
      configFile,
      JSON.stringify(
        {
          repository: join(dir, 'repository'),
          profiles: {
            app: { host: a.host, port: a.port, dbname: 'app', user: a.user },
            other: { host: o.host, port: o.port, dbname: 'postgres', user: o.user },
          },
          defaultProfile: 'app',
          capture: { segmentMaxBytes: 67108864, segmentMaxAge: '15m', compress: 'gzip' },
          temporal: { address: temporalAddress(), namespace: TEST_NAMESPACE, taskQueue: `latest-${process.pid}-${Date.now()}` },
        },
        null,
        2,
      ),
    );
    workerLog = join(dir, 'worker.log');
    worker = await startWorkerProcess(configFile, workerLog);
  });

  afterAll(async () => {
    // The capture that setup started must not outlive this file on the shared Temporal server
    // (another file's `app` profile would meet its workflow id; a stop signal needs this worker).
    await terminateIfRunning(workflowIds.capture('app', 'pgincr'));
    await stopWorkerProcess(worker);
    await Promise.all([pg?.stop(), other?.stop()]);
    if (dir && passed) rmSync(dir, { recursive: true, force: true });
    else if (dir) process.stderr.write(`restore-latest-leftovers: kept ${dir} (worker.log, repository) for inspection\n`);
  });

  it("restores the open segment's transactions to latest, then lists and cleans a failed restore's leftovers only", async () => {
    const setup = await cli(['setup']);
    expect({ code: setup.code, stderr: setup.stderr }).toMatchObject({ code: 0 });

    // Rows written after setup, never rotated: they are in the open segment only.
    const [written] = await pg.query<{ xid: string }>(
      "WITH w AS (INSERT INTO items SELECT g, 'row ' || g FROM generate_series(1, 500) g) SELECT txid_current()::text AS xid",
      [],
      'app',
    );
    const xid = written!.xid;
    const partialDir = () => {
      const chain = readdirSync(join(dir, 'repository')).find((n) => n.endsWith('-app'));
      return chain ? join(dir, 'repository', chain, 'segments', 'partial') : '';
    };
    let rowsEnd = 0n;
    await waitFor(
      'the capture to write the transaction into the open segment',
      async () => {
        const p = partialDir();
        if (!p || !existsSync(p)) return false;
        for (const f of readdirSync(p).filter((n) => n.endsWith('.partial'))) {
          const m = new RegExp(`^COMMIT; -- xid ${xid} end_lsn (\\S+) `, 'm').exec(readFileSync(join(p, f), 'latin1'));
          if (m) rowsEnd = lsnValue(m[1]!);
        }
        return rowsEnd > 0n;
      },
      60_000,
      250,
    );
    const before = await cli(['list', '--json']);
    expect(before.code).toBe(0);
    // Nothing sealed reaches those rows: the old "latest" (the end of the sealed segments) missed them.
    const sealedEnd = (JSON.parse(before.stdout) as { window: { latest: { lsn: string } | null } }).window.latest?.lsn;
    expect(sealedEnd === undefined || lsnValue(sealedEnd) < rowsEnd).toBe(true);

    const latest = await cli(['restore', '--target-db', 'app_latest']);
    expect({ code: latest.code, stderr: latest.stderr }).toMatchObject({ code: 0 });
    const [count] = await pg.query<{ n: string }>('SELECT count(*)::text AS n FROM items', [], 'app_latest');
    expect(count!.n).toBe('500');
    expect(latest.stdout).toMatch(/restored app_latest from base \S+ \(\S+\) \+ \d+ transactions to [0-9A-F]+\/[0-9A-F]+ \(\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d/);
    expect(latest.stdout).toMatch(/open segment sealed for this restore \(its transactions up to [0-9A-F]+\/[0-9A-F]+ included/);
    expect(latest.stdout).toMatch(/capture workflow \S+ is running/);

    // A restore into the other cluster fails part way: its database is created, the base load fails (no role alice there).
    const started = await cli(['restore', '--target-db', 'broken', '--target-profile', 'other', '--no-wait']);
    expect({ code: started.code, stderr: started.stderr }).toMatchObject({ code: 0 });
    await waitFor(
      'the failing restore to create its database',
      async () => (await other.query('SELECT 1 FROM pg_database WHERE datname = $1', ['broken'], 'postgres')).length === 1,
      120_000,
      500,
    );
    await waitFor(
      'the base load to fail at least once',
      async () =>
        readFileSync(workerLog, 'utf8').includes('role \\"alice\\" does not exist') || readFileSync(workerLog, 'utf8').includes('role "alice" does not exist'),
      120_000,
      500,
    );
    // The operator gives up on it (as from the Temporal UI).
    const connection = await Connection.connect({ address: temporalAddress() });
    try {
      await new Client({ connection, namespace: TEST_NAMESPACE }).workflow
        .getHandle('pgincr-restore-broken')
        .terminate('test: give up on a restore that fails');
    } finally {
      await connection.close();
    }

    // Databases pgincr did not make: plain, and one that only carries a restore-like comment.
    await other.query('CREATE DATABASE not_ours', [], 'postgres');
    await other.query('CREATE DATABASE forged', [], 'postgres');
    await other.query(`COMMENT ON DATABASE forged IS 'pgincr restore pgincr_restore_forged_0123456789abcdef0123456789abcdef'`, [], 'postgres');

    type Listing = { leftovers: { databases: string[]; status: string; workflowId: string }[]; unconfirmed: number; cleaned?: { databases: string[] }[] };
    let listing: Listing | undefined;
    await waitFor(
      'leftovers to list the terminated restore',
      async () => {
        const r = await cli(['leftovers', '--target-profile', 'other', '--json']);
        if (r.code !== 0) throw new Error(`leftovers failed: ${r.stderr}`);
        listing = JSON.parse(r.stdout) as Listing;
        return listing.leftovers.length > 0;
      },
      60_000,
      1000,
    );
    expect(listing!.leftovers).toEqual([expect.objectContaining({ databases: ['broken'], status: 'TERMINATED', workflowId: 'pgincr-restore-broken' })]);
    expect(listing!.unconfirmed).toBe(1); // `forged`: reported as a count, never listed or touched
    const human = await cli(['leftovers', '--target-profile', 'other']);
    expect(human.stdout).toMatch(/pgincr-restore-broken .*TERMINATED +broken/);
    expect(human.stdout).not.toMatch(/not_ours|forged/);
    // The completed restore's database is the user's: not a leftover.
    const source = await cli(['leftovers']);
    expect({ code: source.code, stdout: source.stdout }).toMatchObject({
      code: 0,
      stdout: expect.stringContaining('no leftovers of failed restores on profile app'),
    });
    const readmeClean = await cli(['leftovers', '--clean']); // README's line, on the source's cluster: nothing to drop
    expect({ code: readmeClean.code, stdout: readmeClean.stdout }).toMatchObject({
      code: 0,
      stdout: expect.stringContaining('no leftovers of failed restores on profile app'),
    });

    const clean = await cli(['leftovers', '--target-profile', 'other', '--clean']);
    expect({ code: clean.code, stderr: clean.stderr }).toMatchObject({ code: 0 });
    expect(clean.stdout).toContain('removed: database broken');
    const names = (await other.query<{ datname: string }>('SELECT datname FROM pg_database ORDER BY 1', [], 'postgres')).map((r) => r.datname);
    expect(names).not.toContain('broken');
    expect(names).toEqual(expect.arrayContaining(['not_ours', 'forged']));
    const afterClean = await cli(['leftovers', '--target-profile', 'other']);
    expect(afterClean.stdout).toContain('no leftovers of failed restores on profile other');
    expect((await pg.query('SELECT 1 FROM pg_database WHERE datname = $1', ['app_latest'], 'postgres')).length).toBe(1);
    passed = true;
  });
});

function lsnValue(lsn: string): bigint {
  const [hi, lo] = lsn.split('/');
  return (BigInt(`0x${hi}`) << 32n) + BigInt(`0x${lo}`);
}
