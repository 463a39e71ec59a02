/**
 * The central test: workload on the source → setup (base) → capture workflow → stop → restore
 * workflow → the restored database equals the source (per-table rows and content checksums,
 * sequences), all through a real Temporal server and a real PostgreSQL.
 */
import { startCluster, type PgCluster } from '../../helpers/pg-cluster';
import { setupTemporal } from '../../helpers/temporal';
import { pgincrTestEnv, waitFor, type PgincrTestEnv, runSetupWorkflow } from '../../helpers/pgincr-env';
import { AFTER_P, BASE_DATA, CHANGES, MIXED_SCHEMA, runStatements, sequenceValues, tableSums } from '../../helpers/workload';
import { schemaDump } from '../../helpers/direct-pipeline';
import type { RestoreReport } from '../../../src/workflows/restore';
import type { CaptureStatus } from '../../../src/workflows/signals';
import { stopSignal } from '../../../src/workflows/signals';

jest.setTimeout(300_000);

/**
 * A second role in the stream: it owns a table and a SECURITY DEFINER function, sets default
 * privileges and grants to a third role; the superuser grants it CREATE and grants on its own
 * table. Replayed as the superuser, owners and privileges would differ from the source.
 */
const ROLE_CHANGES = [
  'GRANT CREATE ON SCHEMA public TO rt_owner',
  `BEGIN; SET ROLE rt_owner;
   CREATE TABLE public.owned (id int PRIMARY KEY, v text);
   CREATE FUNCTION public.owned_count() RETURNS bigint LANGUAGE sql SECURITY DEFINER AS 'SELECT count(*) FROM public.owned';
   ALTER DEFAULT PRIVILEGES GRANT SELECT ON TABLES TO rt_reader;
   GRANT SELECT, INSERT ON public.owned TO rt_reader;
   INSERT INTO public.owned VALUES (1, 'by rt_owner');
   RESET ROLE; COMMIT`,
  'SET ROLE rt_owner; CREATE TABLE public.owned_later (id int PRIMARY KEY); RESET ROLE',
  'GRANT SELECT ON public.orders TO rt_reader',
];

describe('round trip through Temporal: setup → capture → restore equals the source', () => {
  let pg: PgCluster;
  let env: PgincrTestEnv;
  const temporal = setupTemporal({ workflowsPath: require.resolve('../../../src/workflows') });

  beforeAll(async () => {
    pg = await startCluster();
    await pg.query('CREATE ROLE rt_owner; CREATE ROLE rt_reader');
    await pg.createDatabase('app');
    await runStatements(pg, 'app', [MIXED_SCHEMA, BASE_DATA]);
    env = pgincrTestEnv(pg, 'app');
  });
  afterAll(async () => {
    env?.cleanup();
    await pg?.stop();
  });

  it('restores base + segments to exactly the source state', async () => {
    await temporal.run(
      async () => {
        const { client, taskQueue } = temporal;
        const setup = await runSetupWorkflow(temporal);
        expect(setup.status).toBe('set up');
        expect(setup.base?.lsn).toMatch(/^[0-9A-F]+\/[0-9A-F]+$/);

        // A second setup changes nothing.
        const again = await runSetupWorkflow(temporal, { label: 'setup-again' });
        expect(again.status).toBe('already set up');

        const capture = await client.workflow.start('captureWorkflow', {
          taskQueue,
          workflowId: temporal.workflowId('capture'),
          args: [{ profile: 'default', runForMs: 4000 }],
        });
        await runStatements(pg, 'app', CHANGES);
        await runStatements(pg, 'app', ROLE_CHANGES);
        // A point in time P, recorded on the source: its state, a WAL position, a time, an xid.
        const client1 = await pg.connect('app');
        await client1.query('BEGIN');
        await client1.query(`INSERT INTO orders (user_id, total, note) VALUES (2, 9.99, 'last before P')`);
        const xidP = Number(((await client1.query('SELECT pg_current_xact_id()::text AS x')).rows[0] as { x: string }).x);
        await client1.query('COMMIT');
        await client1.end();
        const [{ lsn: lsnP, at: timeP }] = (await pg.query<{ lsn: string; at: string }>(
          `SELECT pg_current_wal_insert_lsn()::text AS lsn, to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS at`,
          [],
          'app',
        )) as [{ lsn: string; at: string }];
        const atP = await tableSums(pg, 'app');
        await runStatements(pg, 'app', AFTER_P);
        const [{ lsn }] = (await pg.query<{ lsn: string }>('SELECT pg_current_wal_insert_lsn()::text AS lsn', [], 'app')) as [{ lsn: string }];
        await waitFor(
          'the slot to confirm the workload',
          async () => {
            const rows = await pg.query<{ ok: boolean }>(
              `SELECT confirmed_flush_lsn >= $1::pg_lsn AS ok FROM pg_replication_slots WHERE slot_name = 'pgincr'`,
              [lsn],
            );
            return rows[0]?.ok === true;
          },
          120_000,
        );
        await capture.signal(stopSignal);
        const status = (await capture.result()) as CaptureStatus;
        expect(status.state).toBe('stopped');

        const source = await tableSums(pg, 'app');
        const sourceSequences = await sequenceValues(pg, 'app');
        const report = (await client.workflow.execute('restoreWorkflow', {
          taskQueue,
          workflowId: temporal.workflowId('restore'),
          args: [{ profile: 'default', targetProfile: 'admin', targetDb: 'app_restored', restoreGlobals: true }],
        })) as RestoreReport;
        expect(report.apply.appliedTransactions).toBeGreaterThanOrEqual(CHANGES.length - 2);
        expect(await tableSums(pg, 'app_restored')).toEqual(source);
        // The schema with owners and privileges (ROLE_CHANGES) equals the source's.
        const restoredSchema = schemaDump(pg, 'app_restored');
        expect(restoredSchema).toContain('ALTER FUNCTION public.owned_count() OWNER TO rt_owner;');
        expect(restoredSchema).toEqual(schemaDump(pg, 'app'));
        const restoredSequences = await sequenceValues(pg, 'app_restored');
        for (const [name, value] of Object.entries(sourceSequences)) {
          expect(BigInt(restoredSequences[name] ?? '0')).toBeGreaterThanOrEqual(BigInt(value));
        }
        // Point in time: to P by LSN, by time and by xid, each equal to the source as it was at P.
        const targets = [
          { db: 'at_lsn', target: { kind: 'lsn', lsn: lsnP, inclusive: true } },
          { db: 'at_time', target: { kind: 'time', time: timeP, inclusive: true } },
          { db: 'at_xid', target: { kind: 'xid', xid: xidP, inclusive: true } },
        ];
        const restored: Record<string, unknown> = {};
        for (const { db, target } of targets) {
          const r = await client.workflow.execute('restoreWorkflow', {
            taskQueue,
            workflowId: temporal.workflowId(`restore-${db}`),
            args: [{ profile: 'default', targetProfile: 'admin', targetDb: db, target }],
          });
          if (process.env.DEBUG_RT) console.log(db, JSON.stringify(r, null, 1), lsnP, timeP, xidP);
          restored[db] = { orders: (await tableSums(pg, db))['"public"."orders"'], all: await tableSums(pg, db) };
        }
        const expected = { orders: atP['"public"."orders"'], all: atP };
        expect(restored).toEqual({ at_lsn: expected, at_time: expected, at_xid: expected });
        expect(atP).not.toEqual(source);
        // A second restore into the same name is refused, naming it.
        await expect(
          client.workflow.execute('restoreWorkflow', {
            taskQueue,
            workflowId: temporal.workflowId('restore-again'),
            args: [{ profile: 'default', targetProfile: 'admin', targetDb: 'app_restored' }],
          }),
        ).rejects.toThrow();
      },
      { activities: env.activities },
    );
  });
});
