/**
 * Issue 7: a scheduled-style full backup taken while the capture runs under load, through a real
 * Temporal server and a real PostgreSQL:
 * - restoring from the NEW base to latest equals the source;
 * - restoring from the OLD base to the new base's LSN equals the new base's checksums exactly
 *   (the marker transaction + rotation made that LSN reachable by sealed segments);
 * - segments are gzip by default, a restore reads them, and `zcat` shows the SQL;
 * - a dump killed mid-way (pg_terminate_backend of pg_dump, then a cancelled workflow) leaves no
 *   base in the catalog and no base folder without the temporary prefix.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { WorkflowFailedError } from '@temporalio/client';
import { startCluster, type PgCluster } from '../../helpers/pg-cluster';
import { setupTemporal } from '../../helpers/temporal';
import { pgincrTestEnv, waitFor, type PgincrTestEnv, runSetupWorkflow } from '../../helpers/pgincr-env';
import { BASE_DATA, MIXED_SCHEMA, runStatements, tableSums } from '../../helpers/workload';
import { LOAD_TABLE, baseFolders, chainOf, readCatalog, startLoad, waitSlotCaughtUp } from '../../helpers/backup-fixture';
import { createActivities, type ActivityDeps } from '../../../src/activities';
import { createLogger } from '../../../src/logger';
import type { RestoreReport } from '../../../src/workflows/restore';
import type { FullBackupResult } from '../../../src/workflows/full-backup';
import { stopSignal, type CaptureStatus } from '../../../src/workflows/signals';

jest.setTimeout(300_000);

/** Unlogged: pg_dump dumps (and locks) it, the table checksums skip it. */
const CACHE = `
CREATE UNLOGGED TABLE public.cache (id int PRIMARY KEY, v text);
INSERT INTO public.cache SELECT g, 'c' || g FROM generate_series(1, 20) g;`;

describe('full backup aligned with a running capture', () => {
  let pg: PgCluster;
  let env: PgincrTestEnv;
  let chain: string;
  let oldBase: { baseId: string; lsn: string };
  let newBase: FullBackupResult;
  const temporal = setupTemporal({ workflowsPath: require.resolve('../../../src/workflows') });

  beforeAll(async () => {
    pg = await startCluster();
    await pg.createDatabase('app');
    await runStatements(pg, 'app', [MIXED_SCHEMA, BASE_DATA, LOAD_TABLE, CACHE]);
    env = pgincrTestEnv(pg, 'app');
  });
  afterAll(async () => {
    env?.cleanup();
    await pg?.stop();
  });

  const restore = (label: string, args: Record<string, unknown>) =>
    temporal.client.workflow.execute('restoreWorkflow', {
      taskQueue: temporal.taskQueue,
      workflowId: temporal.workflowId(label),
      args: [{ profile: 'default', targetProfile: 'admin', ...args }],
    }) as Promise<RestoreReport>;

  it('takes a new base under load; both bases restore exactly', async () => {
    await temporal.run(
      async () => {
        const { client, taskQueue } = temporal;
        const setup = await runSetupWorkflow(temporal);
        expect(setup.base).toBeDefined();
        oldBase = setup.base as { baseId: string; lsn: string };
        chain = chainOf(env.repository);

        const capture = await client.workflow.start('captureWorkflow', {
          taskQueue,
          workflowId: temporal.workflowId('capture'),
          args: [{ profile: 'default', runForMs: 4000 }],
        });
        const load = await startLoad(pg, 'app');
        await load.waitMore(30);
        newBase = (await client.workflow.execute('fullBackupWorkflow', {
          taskQueue,
          workflowId: temporal.workflowId('full'),
          args: [{ profile: 'default' }],
        })) as FullBackupResult;
        expect(newBase.baseId).not.toBe(oldBase.baseId);
        expect(newBase.coverage).toMatchObject({ lsn: newBase.lsn, covered: true });
        await load.waitMore(30);
        expect(await load.stop()).toBeGreaterThanOrEqual(60);
        await waitSlotCaughtUp(pg, 'app');
        await capture.signal(stopSignal);
        expect(((await capture.result()) as CaptureStatus).state).toBe('stopped');

        const catalog = readCatalog(chain);
        expect(catalog.bases.map((b) => b.id)).toEqual([oldBase.baseId, newBase.baseId]);
        expect(baseFolders(chain)).toEqual({ complete: [oldBase.baseId, newBase.baseId], temporary: [] });
        // The marker's segment: sealed, gzip, holding the marker line for the new base.
        const covering = catalog.segments.find((s) => s.file === newBase.coverage.segment);
        expect(covering).toBeDefined();
        const text = execFileSync('zcat', [join(chain, covering!.file)], { encoding: 'utf8' });
        expect(text).toContain('-- pgincr segment v1');
        expect(text).toMatch(/^BEGIN; -- xid \d+ commit_lsn /m);
        expect(text).toContain(`-- pgincr marker: full-backup ${newBase.baseId} at ${newBase.lsn}\n`);
        expect(text).toMatch(/^INSERT INTO public\.load /m);
        expect(catalog.segments.every((s) => s.compressed && s.file.endsWith('.sql.gz'))).toBe(true);

        const source = await tableSums(pg, 'app');
        const fromNew = await restore('restore-new', { targetDb: 'from_new', fromBase: newBase.baseId });
        expect(fromNew.plan.baseId).toBe(newBase.baseId);
        expect(fromNew.plan.segments.length).toBeGreaterThan(0);
        expect(fromNew.plan.segments.every((f) => f.endsWith('.sql.gz'))).toBe(true);
        expect(fromNew.apply.appliedTransactions).toBeGreaterThan(0);
        expect(await tableSums(pg, 'from_new')).toEqual(source);

        const toNew = await restore('restore-old-to-new', {
          targetDb: 'old_to_new',
          fromBase: oldBase.baseId,
          target: { kind: 'lsn', lsn: newBase.lsn, inclusive: true },
          verify: true,
        });
        expect(toNew.plan.baseId).toBe(oldBase.baseId);
        expect(toNew.plan.expectedChecksumsFile).toBe(join(chain, 'base', newBase.baseId, 'checksums.json'));
        expect(toNew.verify).toMatchObject({ compared: true, ok: true, mismatches: [] });
        const expected = JSON.parse(readFileSync(join(chain, 'base', newBase.baseId, 'checksums.json'), 'utf8')) as { tables: unknown };
        expect(await tableSums(pg, 'old_to_new')).toEqual(expected.tables);
        expect(await tableSums(pg, 'old_to_new')).not.toEqual(source);
      },
      { activities: env.activities },
    );
  });

  it('a dump killed mid-way leaves no base behind', async () => {
    // pg_dump locks every table it dumps; a lock on an unlogged table (which the snapshot
    // checksums do not read) holds it mid-way. The lock is taken by a test hook right after the
    // slot is created: creating a slot waits for open transactions, and this one has an xid.
    const locker = await pg.connect('app');
    let armed = true;
    const hooks = {
      afterSlotCreated: async () => {
        if (!armed) return;
        await locker.query('BEGIN');
        await locker.query('LOCK TABLE public.cache IN ACCESS EXCLUSIVE MODE');
      },
    };
    const activities = createActivities({ config: env.config, logger: createLogger({ level: 'warn', pretty: false }), hooks } as ActivityDeps);
    const waitingDump = async () =>
      (await pg.query<{ pid: number }>(`SELECT pid FROM pg_stat_activity WHERE application_name = 'pg_dump' AND wait_event_type = 'Lock'`, [], 'app')).map(
        (r) => r.pid,
      );
    const before = readCatalog(chain).bases.map((b) => b.id);
    try {
      await temporal.run(
        async () => {
          const handle = await temporal.client.workflow.start('fullBackupWorkflow', {
            taskQueue: temporal.taskQueue,
            workflowId: temporal.workflowId('full-killed'),
            args: [{ profile: 'default' }],
          });
          await waitFor('pg_dump to wait on the lock', async () => (await waitingDump()).length > 0, 60_000);
          expect(baseFolders(chain).temporary).toHaveLength(1);
          const [killed] = (await pg.query<{ ok: boolean }>(
            'SELECT bool_and(pg_terminate_backend(pid)) AS ok FROM pg_stat_activity WHERE application_name = $1',
            ['pg_dump'],
          )) as [{ ok: boolean }];
          expect(killed.ok).toBe(true);
          // The attempt fails and removes its temporary folder; nothing was registered.
          await waitFor('the failed attempt to clean up', async () => (await waitingDump()).length === 0 && baseFolders(chain).temporary.length === 0, 60_000);
          expect(readCatalog(chain).bases.map((b) => b.id)).toEqual(before);
          expect(baseFolders(chain).complete).toEqual(before);
          await locker.query('ROLLBACK');
          // The retry (its hook locks again) blocks in pg_dump; cancel the workflow there.
          await waitFor('the retry to reach pg_dump', async () => (await waitingDump()).length > 0, 60_000);
          await handle.cancel();
          await expect(handle.result()).rejects.toBeInstanceOf(WorkflowFailedError);
          expect(await waitingDump()).toEqual([]);
        },
        { activities },
      );
    } finally {
      armed = false;
      await locker.query('ROLLBACK').catch(() => undefined);
      await locker.end();
    }
    expect(readCatalog(chain).bases.map((b) => b.id)).toEqual(before);
    expect(baseFolders(chain)).toEqual({ complete: before, temporary: [] });
    const slots = await pg.query<{ slot_name: string }>(`SELECT slot_name FROM pg_replication_slots WHERE slot_name <> 'pgincr'`);
    expect(slots).toEqual([]);
  });
});
