/**
 * README's walk-through, driven from the outside exactly as README tells a user: README's own
 * configuration example (one profile named `app`, `defaultProfile: app`), a worker started with
 * `bin/pgincr worker --config FILE` in its own process, and every command through `bin/pgincr`.
 * The workload is the common one that broke before: `pgbench -i` run after setup, then pgbench.
 * Results are checked by restoring and comparing with the source.
 */
import { execFile, execFileSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { startCluster, type PgCluster } from '../../helpers/pg-cluster';
import { temporalAddress, terminateIfRunning, TEST_NAMESPACE } from '../../helpers/temporal';
import { workflowIds } from '../../../src/workflows/ids';
import { waitFor } from '../../helpers/pgincr-env';
import { tableSums, sequenceValues } from '../../helpers/workload';
import { startWorkerProcess, stopWorkerProcess } from '../../helpers/worker-process';

jest.setTimeout(600_000);

const ROOT = resolve(__dirname, '../../..');
const BIN = join(ROOT, 'bin/pgincr');

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** README's configuration example, with this test's cluster, repository and Temporal server. */
function readmeConfig(pg: PgCluster, repository: string, taskQueue: string): unknown {
  const { host, port, user } = pg.profile('app');
  return {
    repository,
    profiles: { app: { host, port, dbname: 'app', user } },
    defaultProfile: 'app',
    capture: { segmentMaxBytes: 67108864, segmentMaxAge: '15m', compress: 'gzip' },
    temporal: { address: temporalAddress(), namespace: TEST_NAMESPACE, taskQueue },
  };
}

describe('README walk-through through bin/pgincr', () => {
  let pg: PgCluster;
  let dir: string;
  let configFile: string;
  let worker: ChildProcess | undefined;
  let workerLog: string;
  let passed = false;

  /** `bin/pgincr ARGS --config FILE`, as a user types it (no TEMPORAL_ADDRESS: the config has it). */
  function cli(args: string[]): Promise<Run> {
    const env = { ...process.env };
    delete env.TEMPORAL_ADDRESS;
    return new Promise((done) => {
      execFile(BIN, [...args, '--config', configFile], { cwd: dir, env, timeout: 300_000 }, (err, stdout, stderr) =>
        done({ code: err ? ((err as { code?: number }).code ?? -1) : 0, stdout, stderr }),
      );
    });
  }

  function pgbench(args: string[]): void {
    execFileSync('pgbench', [...args, 'app'], { env: { ...process.env, ...pg.env('app') }, stdio: 'pipe' });
  }

  beforeAll(async () => {
    await terminateIfRunning(workflowIds.capture('app', 'pgincr')); // README's profile and slot, on the shared server
    pg = await startCluster();
    await pg.createDatabase('app');
    dir = mkdtempSync(join(tmpdir(), 'pgincr-readme-'));
    configFile = join(dir, 'pgincr.json');
    const taskQueue = `readme-${process.pid}-${Date.now()}`;
    writeFileSync(configFile, JSON.stringify(readmeConfig(pg, join(dir, 'repository'), taskQueue), null, 2));
    workerLog = join(dir, 'worker.log');
    worker = await startWorkerProcess(configFile, workerLog);
  });

  afterAll(async () => {
    await terminateIfRunning(workflowIds.capture('app', 'pgincr')); // stopped by the test when it passes
    await stopWorkerProcess(worker);
    await pg?.stop();
    if (dir && passed) rmSync(dir, { recursive: true, force: true });
    else if (dir) process.stderr.write(`readme walk-through: kept ${dir} (worker.log, repository) for inspection\n`);
  });

  it('preflight, setup, pgbench, rotate, list, restore (latest, to a time, twice), verify, check, schedules, stop, uninstall', async () => {
    const preflight = await cli(['preflight']);
    expect([0, 1]).toContain(preflight.code);

    const setup = await cli(['setup']);
    expect({ code: setup.code, stderr: setup.stderr }).toMatchObject({ code: 0 });

    // The workload users run: pgbench's own tables created and loaded after setup, then traffic.
    pgbench(['-i', '-s', '1', '-q']);
    pgbench(['-c', '2', '-t', '200', '-n']);
    const midpoint = (await pg.query<{ t: string }>('SELECT now()::text AS t', [], 'app'))[0]!.t; // psql's own form
    const atMidpoint = { sums: await tableSums(pg, 'app'), sequences: await sequenceValues(pg, 'app') };
    await pg.query('SELECT pg_sleep(0.05)', [], 'app');
    pgbench(['-c', '2', '-t', '200', '-n']);
    const final = { sums: await tableSums(pg, 'app'), sequences: await sequenceValues(pg, 'app') };

    // capture rotate seals the open segment while the capture activity runs.
    const written = (await pg.query<{ lsn: string }>('SELECT pg_current_wal_insert_lsn()::text AS lsn', [], 'app'))[0]!.lsn;
    const rotate = await cli(['capture', 'rotate']);
    expect(rotate.code).toBe(0);
    await waitFor(
      'a sealed segment reaching the last pgbench transaction',
      async () => {
        const list = await cli(['list', '--json']);
        if (list.code !== 0) return false;
        const latest = (JSON.parse(list.stdout) as { window: { latest: { lsn: string } | null } }).window.latest;
        return latest !== null && lsnValue(latest.lsn) >= lsnValue(written) - 200_000n;
      },
      60_000,
      1000,
    );

    const human = await cli(['list']);
    expect(human.code).toBe(0);
    expect(human.stdout).toMatch(/restorable: from \S+ \(\S+\) to \S+ \(/);
    expect(human.stdout).not.toContain('{"');

    const latest = await cli(['restore', '--target-db', 'app_restored']);
    expect({ code: latest.code, stderr: latest.stderr }).toMatchObject({ code: 0 });
    expect(await tableSums(pg, 'app_restored')).toEqual(final.sums);
    expect(await sequenceValues(pg, 'app_restored')).toEqual(final.sequences);

    // README's promise: a NEW database, never overwritten; a second restore to it fails at once.
    const started = Date.now();
    const again = await cli(['restore', '--target-db', 'app_restored']);
    expect(again.code).not.toBe(0);
    expect(again.stderr).toMatch(/app_restored.*already exists/);
    expect(Date.now() - started).toBeLessThan(60_000);

    // The time form every DBA copies from psql.
    const toTime = await cli(['restore', '--target-db', 'app_at_midpoint', '--to-time', midpoint]);
    expect({ code: toTime.code, stderr: toTime.stderr }).toMatchObject({ code: 0 });
    expect(await tableSums(pg, 'app_at_midpoint')).toEqual(atMidpoint.sums);

    const verify = await cli(['verify', '--checkpoint']);
    expect({ code: verify.code, stdout: verify.stdout }).toMatchObject({ code: 0, stdout: expect.stringContaining('OK') });

    const check = await cli(['check', '--nagios']);
    expect(check.stdout).toMatch(/^PGINCR (OK|WARNING)/);
    expect([0, 1]).toContain(check.code);

    const schedules = await cli(['schedules', 'apply']);
    expect(schedules.code).toBe(0);

    const stop = await cli(['capture', 'stop']);
    expect(stop.code).toBe(0);

    // README: uninstall removes pgincr from the database once the capture has stopped (its slot free).
    await waitFor(
      'the capture slot to be released',
      async () => (await pg.query("SELECT 1 FROM pg_replication_slots WHERE slot_name = 'pgincr' AND active")).length === 0,
      60_000,
    );
    const refused = await cli(['uninstall', '--confirm', 'not_app']);
    expect(refused.code).not.toBe(0);
    const uninstall = await cli(['uninstall', '--confirm', 'app']);
    expect({ code: uninstall.code, stdout: uninstall.stdout }).toMatchObject({ code: 0, stdout: expect.stringContaining('slot pgincr') });
    expect(await pg.query("SELECT slot_name FROM pg_replication_slots WHERE slot_name = 'pgincr'")).toEqual([]);
    expect(await pg.query("SELECT nspname FROM pg_namespace WHERE nspname = 'pgincr'", [], 'app')).toEqual([]);
    expect(await pg.query("SELECT evtname FROM pg_event_trigger WHERE evtname LIKE 'pgincr%'", [], 'app')).toEqual([]);
    passed = true;
  });
});

function lsnValue(lsn: string): bigint {
  const [hi, lo] = lsn.split('/');
  return (BigInt(`0x${hi}`) << 32n) + BigInt(`0x${lo}`);
}
