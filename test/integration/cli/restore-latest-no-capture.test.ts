/**
 * "Latest" without a running capture (issue 15), driven through bin/pgincr as README tells a
 * user: setup, a workload, `capture pause` (the capture stops streaming and seals nothing: its
 * open segment stays open), then a crash's torn tail at the end of the open segment (a
 * transaction whose COMMIT line was never written, as a capture killed mid-write leaves it).
 * `pgincr restore` without a target must still include every WHOLE transaction of the open
 * segment — read up to its last COMMIT, since nothing can seal it — and nothing of the torn one;
 * the restored tables equal the source's; the report says how far it reached (LSN, commit time)
 * and that the capture was paused (as `capture status` and `check` say: never "running"); and the open segment is byte for byte what it was (it belongs
 * to the capture: docs/design.md invariant 11). Old code restored none of those transactions.
 */
import { execFile, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { appendFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { startCluster, type PgCluster } from '../../helpers/pg-cluster';
import { temporalAddress, terminateIfRunning, TEST_NAMESPACE } from '../../helpers/temporal';
import { workflowIds } from '../../../src/workflows/ids';
import { waitFor } from '../../helpers/pgincr-env';
import { formatLsn, parseLsn } from '../../../src/core/lsn';
import { renderBegin } from '../../../src/core/segment/grammar';
import { startWorkerProcess, stopWorkerProcess } from '../../helpers/worker-process';

jest.setTimeout(420_000);

const ROOT = resolve(__dirname, '../../..');
const BIN = join(ROOT, 'bin/pgincr');
const PROFILE = 'shop'; // not `app`: another CLI file's capture on the shared server has that id

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

describe('restore to latest with no capture running, through bin/pgincr', () => {
  let pg: PgCluster;
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
    pg = await startCluster();
    await pg.createDatabase('shop');
    await pg.query(
      `CREATE TABLE items (id int PRIMARY KEY, note text, price numeric(10,2));
       CREATE TABLE events (id bigserial PRIMARY KEY, item int, what text, at timestamptz DEFAULT now())`,
      [],
      'shop',
    );
    dir = mkdtempSync(join(tmpdir(), 'pgincr-latest-nocapture-'));
    configFile = join(dir, 'pgincr.json');
    const p = pg.profile('shop');
    writeFileSync(
      configFile,
      JSON.stringify(
        {
          repository: join(dir, 'repository'),
          profiles: { [PROFILE]: { host: p.host, port: p.port, dbname: 'shop', user: p.user } },
          defaultProfile: PROFILE,
          capture: { segmentMaxBytes: 67108864, segmentMaxAge: '15m', compress: 'gzip' },
          temporal: { address: temporalAddress(), namespace: TEST_NAMESPACE, taskQueue: `nocapture-${process.pid}-${Date.now()}` },
        },
        null,
        2,
      ),
    );
    workerLog = join(dir, 'worker.log');
    worker = await startWorkerProcess(configFile, workerLog);
  });

  afterAll(async () => {
    await terminateIfRunning(workflowIds.capture(PROFILE, 'pgincr'));
    await stopWorkerProcess(worker);
    await pg?.stop();
    if (dir && passed) rmSync(dir, { recursive: true, force: true });
    else if (dir) process.stderr.write(`restore-latest-no-capture: kept ${dir} (worker.log, repository) for inspection\n`);
  });

  const partialFile = (): string | undefined => {
    const repo = join(dir, 'repository');
    const chain = existsSync(repo) ? readdirSync(repo).find((n) => n.endsWith('-shop')) : undefined;
    const partials = chain ? join(repo, chain, 'segments', 'partial') : '';
    const name = partials && existsSync(partials) ? readdirSync(partials).find((n) => n.endsWith('.sql.partial')) : undefined;
    return name ? join(partials, name) : undefined;
  };
  const sha256 = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');
  const rows = async (db: string) => ({
    items: await pg.query('SELECT id, note, price::text FROM items ORDER BY id', [], db),
    events: await pg.query('SELECT id, item, what, at::text FROM events ORDER BY id', [], db),
  });

  it("includes the open segment's whole transactions, never a torn one, and leaves the open segment as it was", async () => {
    const setup = await cli(['setup']);
    expect({ code: setup.code, stderr: setup.stderr }).toMatchObject({ code: 0 });

    // A workload of many transactions after setup, none rotated: all of it is in the open segment only.
    await pg.query("INSERT INTO items SELECT g, 'item ' || g, g * 1.25 FROM generate_series(1, 400) g", [], 'shop');
    for (let i = 0; i < 20; i++) {
      await pg.query(
        `WITH changed AS (UPDATE items SET price = price + 1, note = note || E' \\n-- changed ${i}' WHERE id % 20 = $1 RETURNING id)
         INSERT INTO events (item, what) SELECT id, 'repriced ${i}' FROM changed`,
        [i],
        'shop',
      );
    }
    await pg.query('DELETE FROM items WHERE id BETWEEN 100 AND 150', [], 'shop');
    const [last] = await pg.query<{ xid: string }>(
      "WITH w AS (INSERT INTO events (item, what) VALUES (1, 'last whole transaction')) SELECT txid_current()::text AS xid",
      [],
      'shop',
    );
    let lastEnd = '';
    await waitFor(
      'the capture to write the last transaction into the open segment',
      async () => {
        const path = partialFile();
        const m = path ? new RegExp(`^COMMIT; -- xid ${last!.xid} end_lsn (\\S+) `, 'm').exec(readFileSync(path, 'latin1')) : null;
        if (m) lastEnd = m[1]!;
        return m !== null;
      },
      60_000,
      250,
    );

    // The capture stops streaming (README: `pgincr capture pause`); its open segment stays open.
    const pause = await cli(['capture', 'pause']);
    expect({ code: pause.code, stderr: pause.stderr }).toMatchObject({ code: 0 });
    await waitFor(
      'the capture slot to be released',
      async () => (await pg.query("SELECT 1 FROM pg_replication_slots WHERE slot_name = 'pgincr' AND active", [], 'postgres')).length === 0,
      60_000,
      250,
    );
    // Paused, not running: in `capture status`, in `check` and (below) in the restore's report.
    const status = await cli(['capture', 'status']);
    expect({ code: status.code, stderr: status.stderr }).toMatchObject({ code: 0 });
    expect(status.stdout).toMatch(/^capture pgincr-capture-shop-pgincr: paused$/m);
    const check = await cli(['check']);
    expect(check.stdout).toMatch(/^ +WARNING +capture +capture workflow pgincr-capture-shop-pgincr is paused: nothing is captured and the slot keeps WAL/m);
    expect(check.stdout).not.toMatch(/is running/);
    // What a capture killed mid-write leaves: a transaction begun, its COMMIT line never written.
    const partial = partialFile()!;
    appendFileSync(
      partial,
      `${renderBegin({ xid: Number(last!.xid) + 1, commitLsn: parseLsn(lastEnd) + 0x100n, commitTime: new Date().toISOString() })}` +
        "INSERT INTO public.items (id, note, price) VALUES (999999, 'torn: never committed in the files', 1.00);\n" +
        'INSERT INTO public.items (id, note, price) VALUES (999998, ',
    );
    const before = sha256(partial);
    const source = await rows('shop');

    const restore = await cli(['restore', '--target-db', 'shop_latest']);
    expect({ code: restore.code, stderr: restore.stderr }).toMatchObject({ code: 0 });
    expect(await rows('shop_latest')).toEqual(source);
    expect(await pg.query('SELECT id FROM items WHERE id >= 999998', [], 'shop_latest')).toEqual([]);

    // The report: how far it reached (the last whole COMMIT), when, and that no capture was running.
    expect(restore.stdout).toMatch(
      new RegExp(`^restored shop_latest from base \\S+ \\(\\S+\\) \\+ \\d+ transactions to ${lastEnd} \\(\\d{4}-\\d\\d-\\d\\d`, 'm'),
    );
    expect(restore.stdout).toMatch(new RegExp(`^chain reaches ${lastEnd} \\(last commit \\d{4}-\\d\\d-\\d\\d[ T]\\d\\d:\\d\\d:\\d\\d`, 'm'));
    expect(restore.stdout).toMatch(
      new RegExp(
        `^open segment not sealed \\(the capture is paused, so nothing seals the open segment\\): read up to its last COMMIT instead, \\d+ whole transactions up to ${lastEnd} \\(last commit [^)]+\\) included; nothing after that COMMIT$`,
        'm',
      ),
    );
    expect(restore.stdout).toMatch(
      /^WARNING: capture workflow pgincr-capture-shop-pgincr is paused \(`pgincr capture resume` resumes it\): changes made on the source since are not in any segment yet$/m,
    );
    expect(restore.stdout).not.toMatch(/is running/);
    expect(formatLsn(parseLsn(lastEnd))).toBe(lastEnd);
    // No rotate request left behind: the capture would seal at its resume, long after this restore.
    expect(existsSync(join(partial, '../../../control/rotate-request'))).toBe(false);
    // Read, never written: the capture owns the open segment (its next start cuts the torn tail itself).
    expect(partialFile()).toBe(partial);
    expect(sha256(partial)).toBe(before);
    // Completed: the database is the user's, marked so (never a leftover, even once Temporal forgets the run).
    const [comment] = await pg.query<{ c: string }>(
      "SELECT shobj_description(oid, 'pg_database') AS c FROM pg_database WHERE datname = 'shop_latest'",
      [],
      'postgres',
    );
    expect(comment!.c).toMatch(/^pgincr restore _restore_shop_latest_[0-9a-f]{32} completed$/);
    const leftovers = await cli(['leftovers']);
    expect({ code: leftovers.code, stdout: leftovers.stdout }).toMatchObject({
      code: 0,
      stdout: expect.stringContaining('no leftovers of failed restores on profile shop'),
    });
    passed = true;
  });
});
