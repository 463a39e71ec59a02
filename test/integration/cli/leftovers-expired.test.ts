/**
 * `pgincr leftovers` when Temporal no longer knows a restore's run (issue 15): its history
 * expired after the namespace's retention period. Driven through bin/pgincr against a real
 * PostgreSQL and Temporal (no worker needed: the command asks Temporal and the cluster itself).
 *
 * - a database marked by a restore whose run Temporal does not know (here: a workflow id and run
 *   that never existed, as after retention) is listed as ended, says why, and `--clean` drops it;
 * - the same, with a session of that restore still connected, is never treated as ended;
 * - a completed restore's database (marked `… completed` by its last step) is never listed;
 * - a plain database, and one whose comment is not a restore mark of this form, are never touched.
 * Old code left every mark Temporal did not know untouched ("unconfirmed"), so a failed
 * restore's database stayed for ever once its history expired.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Client as PgClient } from 'pg';
import { startCluster, type PgCluster } from '../../helpers/pg-cluster';
import { temporalAddress, TEST_NAMESPACE } from '../../helpers/temporal';

jest.setTimeout(240_000);

const ROOT = resolve(__dirname, '../../..');
const BIN = join(ROOT, 'bin/pgincr');

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** A restore id as restoreWorkflow makes it: the workflow id's tail, `_`, a run id's hex digits. */
const restoreId = (tail: string, n: number) => `${tail}_${n.toString(16).padStart(8, '0')}000040008000000000000001`;

describe('pgincr leftovers with expired histories', () => {
  let pg: PgCluster;
  let dir: string;
  let configFile: string;
  let session: PgClient | undefined;

  function cli(args: string[]): Promise<Run> {
    const env = { ...process.env };
    delete env.TEMPORAL_ADDRESS;
    return new Promise((done) => {
      execFile(BIN, [...args, '--config', configFile], { cwd: dir, env, timeout: 120_000 }, (err, stdout, stderr) =>
        done({ code: err ? ((err as { code?: number }).code ?? -1) : 0, stdout, stderr }),
      );
    });
  }

  beforeAll(async () => {
    pg = await startCluster();
    dir = mkdtempSync(join(tmpdir(), 'pgincr-leftovers-expired-'));
    configFile = join(dir, 'pgincr.json');
    const p = pg.profile('postgres');
    writeFileSync(
      configFile,
      JSON.stringify({
        repository: join(dir, 'repository'),
        profiles: { restores: { host: p.host, port: p.port, dbname: 'postgres', user: p.user } },
        defaultProfile: 'restores',
        temporal: { address: temporalAddress(), namespace: TEST_NAMESPACE, taskQueue: `expired-${process.pid}` },
      }),
    );
  });

  afterAll(async () => {
    await session?.end().catch(() => undefined);
    await pg?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('lists and cleans a failed restore whose run Temporal no longer knows, and nothing else', async () => {
    const expired = restoreId('pgincr_restore_gone', 1); // `pgincr restore --target-db gone`, history expired
    const live = restoreId('pgincr_restore_busy', 2); // a session of it is still connected
    const completed = restoreId('pgincr_restore_done', 3);
    const mark = (db: string, comment: string) => pg.query(`COMMENT ON DATABASE ${db} IS '${comment}'`, [], 'postgres');
    for (const db of ['gone', 'busy', 'done', 'mine', 'odd']) await pg.query(`CREATE DATABASE ${db}`, [], 'postgres');
    await mark('gone', `pgincr restore ${expired}`);
    await mark('busy', `pgincr restore ${live}`);
    await mark('done', `pgincr restore ${completed} completed`);
    await mark('odd', 'pgincr restore not_a_restore_id_of_this_form');
    // The failed restore's progress too (the origin a restore creates with its base).
    await pg.query(`SELECT pg_replication_origin_create('pgincr_restore_${expired}')`, [], 'postgres');
    session = new PgClient({ ...pg.profile('busy'), application_name: `pgincr restore ${live}` });
    await session.connect();

    type Listing = {
      leftovers: { restoreId: string; status: string; databases: string[]; origin: { name: string } | null }[];
      unconfirmed: number;
      expired: number;
    };
    const listed = await cli(['leftovers', '--json']);
    expect({ code: listed.code, stderr: listed.stderr }).toMatchObject({ code: 0 });
    const listing = JSON.parse(listed.stdout) as Listing;
    expect(listing.leftovers).toEqual([
      expect.objectContaining({
        restoreId: expired,
        status: 'NOT FOUND (history expired)',
        databases: ['gone'],
        origin: expect.objectContaining({ name: `pgincr_restore_${expired}` }),
      }),
    ]);
    expect(listing).toMatchObject({ expired: 1, unconfirmed: 2 }); // busy (a session) and odd (not of the form)

    const human = await cli(['leftovers']);
    expect(human.stdout).toMatch(/pgincr-restore-gone \(run 00000001-0000-4000-8000-000000000001\) +NOT FOUND \(history expired\) +gone /);
    expect(human.stdout).toContain(
      `1 of them: Temporal (namespace ${TEST_NAMESPACE}) no longer knows the run (its history expired after the retention period), so it ended`,
    );
    expect(human.stdout).not.toMatch(/\b(busy|done|mine|odd)\b/);

    const clean = await cli(['leftovers', '--clean']);
    expect({ code: clean.code, stderr: clean.stderr }).toMatchObject({ code: 0 });
    expect(clean.stdout).toContain(`removed: database gone, origin pgincr_restore_${expired}`);
    const names = (await pg.query<{ datname: string }>('SELECT datname FROM pg_database ORDER BY 1', [], 'postgres')).map((r) => r.datname);
    expect(names).not.toContain('gone');
    expect(names).toEqual(expect.arrayContaining(['busy', 'done', 'mine', 'odd']));
    expect(await pg.query("SELECT 1 FROM pg_replication_origin WHERE roname LIKE 'pgincr_restore_%'", [], 'postgres')).toEqual([]);

    // Once the restore's last session is gone, it too is a leftover of an ended run.
    await session.end();
    session = undefined;
    const after = JSON.parse((await cli(['leftovers', '--json'])).stdout) as Listing;
    expect(after.leftovers.map((l) => l.databases)).toEqual([['busy']]);
  });
});
