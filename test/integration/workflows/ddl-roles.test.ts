/**
 * Issue 14, point 2: DDL replays as the role that ran it, through restoreWorkflow on a real
 * Temporal server. Role alice owns the source database and runs DDL in the stream (a schema, a
 * table, a SECURITY DEFINER function, default privileges, a grant), interleaved in one
 * transaction with the superuser's DML on a table alice may not touch and the superuser's DDL.
 * - restored into the same cluster: owners, grants, default privileges and the database owner
 *   are the source's, and the superuser's statements after alice's DDL ran as the superuser
 *   (the SET ROLE did not leak);
 * - restored into a second cluster without alice: refused before anything is created, naming
 *   alice and the fixes; with globals (alice existed at the base) it restores owned by alice;
 *   with noOwner it restores owned by the restoring role.
 */
import { WorkflowFailedError } from '@temporalio/client';
import { ActivityFailure, type ApplicationFailure, RetryState } from '@temporalio/common';
import { startCluster, type PgCluster } from '../../helpers/pg-cluster';
import { setupTemporal } from '../../helpers/temporal';
import { pgincrTestEnv, type PgincrTestEnv, runSetupWorkflow } from '../../helpers/pgincr-env';
import { runStatements, tableSums } from '../../helpers/workload';
import { waitSlotCaughtUp } from '../../helpers/backup-fixture';
import { schemaDump } from '../../helpers/direct-pipeline';
import type { RestoreReport } from '../../../src/workflows/restore';
import { stopSignal, type CaptureStatus } from '../../../src/workflows/signals';

jest.setTimeout(240_000);

/** Who owns what, and the privileges, in a database (names as text). */
async function ownership(pg: PgCluster, db: string): Promise<Record<string, unknown>> {
  const [row] = await pg.query<Record<string, unknown>>(
    `SELECT (SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = current_database()) AS database,
            (SELECT nspowner::regrole::text FROM pg_namespace WHERE nspname = 'a_s') AS schema,
            (SELECT relowner::regrole::text FROM pg_class WHERE oid = 'a_s.t'::regclass) AS t,
            (SELECT relowner::regrole::text FROM pg_class WHERE oid = 'public.a_base'::regclass) AS a_base,
            (SELECT relowner::regrole::text FROM pg_class WHERE oid = 'public.su_t'::regclass) AS su_t,
            (SELECT proowner::regrole::text || ' ' || prosecdef FROM pg_proc WHERE oid = 'a_s.f()'::regprocedure) AS f,
            (SELECT relacl::text FROM pg_class WHERE oid = 'a_s.later'::regclass) AS later_acl,
            (SELECT relacl::text FROM pg_class WHERE oid = 'a_s.t'::regclass) AS t_acl,
            (SELECT count(*)::int FROM pg_default_acl) AS default_acls`,
    [],
    db,
  );
  return row as Record<string, unknown>;
}

describe('restoreWorkflow replays DDL as the role that ran it', () => {
  let pg: PgCluster;
  let other: PgCluster;
  let env: PgincrTestEnv;
  const temporal = setupTemporal({ workflowsPath: require.resolve('../../../src/workflows') });

  beforeAll(async () => {
    [pg, other] = await Promise.all([startCluster(), startCluster()]);
    await pg.query('CREATE ROLE alice');
    await pg.createDatabase('app');
    await pg.query('ALTER DATABASE app OWNER TO alice');
    await runStatements(pg, 'app', [
      'CREATE TABLE public.private_t (id int PRIMARY KEY, v text)',
      'SET ROLE alice; CREATE TABLE public.a_base (id int PRIMARY KEY); RESET ROLE',
    ]);
    env = pgincrTestEnv(pg, 'app', {
      profiles: { default: pg.profile('app'), admin: pg.profile('postgres'), other: other.profile('postgres') },
    });
    await temporal.run(
      async () => {
        const { client, taskQueue } = temporal;
        expect((await runSetupWorkflow(temporal)).status).toBe('set up');
        const capture = await client.workflow.start('captureWorkflow', {
          taskQueue,
          workflowId: temporal.workflowId('capture'),
          args: [{ profile: 'default', runForMs: 4000 }],
        });
        await runStatements(pg, 'app', [
          // One transaction: alice's DDL, then the superuser's DML on a table alice may not write, and DDL.
          `BEGIN;
         SET ROLE alice;
         CREATE SCHEMA a_s;
         CREATE TABLE a_s.t (id int PRIMARY KEY, v text);
         CREATE FUNCTION a_s.f() RETURNS int LANGUAGE sql SECURITY DEFINER AS 'SELECT count(*)::int FROM a_s.t';
         ALTER DEFAULT PRIVILEGES IN SCHEMA a_s GRANT SELECT ON TABLES TO PUBLIC;
         GRANT SELECT ON a_s.t TO PUBLIC;
         INSERT INTO a_s.t VALUES (1, 'by alice');
         RESET ROLE;
         INSERT INTO public.private_t VALUES (1, 'after alice');
         CREATE TABLE public.su_t (id int PRIMARY KEY);
         COMMIT`,
          `INSERT INTO public.private_t VALUES (2, 'next transaction')`,
          'SET ROLE alice; CREATE TABLE a_s.later (id int PRIMARY KEY); RESET ROLE',
          `INSERT INTO public.su_t VALUES (1)`,
        ]);
        await waitSlotCaughtUp(pg, 'app');
        await capture.signal(stopSignal);
        expect(((await capture.result()) as CaptureStatus).state).toBe('stopped');
      },
      { activities: env.activities },
    );
  }, 200_000);
  afterAll(async () => {
    env?.cleanup();
    await Promise.all([pg?.stop(), other?.stop()]);
  });

  const restore = (label: string, input: Record<string, unknown>) =>
    temporal.run(
      () =>
        temporal.client.workflow.execute('restoreWorkflow', {
          taskQueue: temporal.taskQueue,
          workflowId: temporal.workflowId(`restore-${label}`),
          args: [{ profile: 'default', ...input }],
        }) as Promise<RestoreReport>,
      { activities: env.activities },
    );

  it('restores owners, grants, default privileges and the database owner; the role switch does not leak', async () => {
    const report = await restore('same', { targetProfile: 'admin', targetDb: 'app_restored' });
    expect(report.plan.ddlRoles).toEqual(['alice', pg.user].sort());
    const source = await ownership(pg, 'app');
    expect(source).toMatchObject({ database: 'alice', schema: 'alice', t: 'alice', a_base: 'alice', su_t: pg.user, f: 'alice true', default_acls: 1 });
    expect(source.later_acl).toContain('=r/alice');
    expect(await ownership(pg, 'app_restored')).toEqual(source);
    expect(schemaDump(pg, 'app_restored')).toEqual(schemaDump(pg, 'app'));
    expect(await tableSums(pg, 'app_restored')).toEqual(await tableSums(pg, 'app'));
  });

  it('refuses a target cluster without the role before creating anything, naming it and the fixes', async () => {
    const error = await restore('missing', { targetProfile: 'other', targetDb: 'app_missing' }).then(
      () => null,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(WorkflowFailedError);
    const activity = (error as WorkflowFailedError).cause as ActivityFailure;
    expect(activity).toBeInstanceOf(ActivityFailure);
    expect(activity.retryState).toBe(RetryState.NON_RETRYABLE_FAILURE);
    const failure = activity.cause as ApplicationFailure;
    expect(failure.type).toBe('PlanError');
    expect(failure.message).toMatch(
      /^the restore needs a role that the target cluster \(profile other\) does not have: "alice" .*nothing was restored\nhint: restore the roles first: pgincr restore --globals .* or restore with --no-owner/,
    );
    expect(await other.query(`SELECT datname FROM pg_database WHERE datname = 'app_missing' OR datname LIKE 'pgincr\\_tmp\\_%'`)).toEqual([]);
  });

  it('with globals, creates the role first and restores owned by it', async () => {
    await restore('globals', { targetProfile: 'other', targetDb: 'app_globals', restoreGlobals: true });
    expect(await ownership(other, 'app_globals')).toEqual(await ownership(pg, 'app'));
  });

  it('with noOwner, restores everything owned by the restoring role', async () => {
    await other.query('DROP DATABASE IF EXISTS app_globals');
    await other.query('DROP ROLE IF EXISTS alice');
    const report = await restore('no-owner', { targetProfile: 'other', targetDb: 'app_no_owner', noOwner: true });
    expect(report.apply.appliedTransactions).toBeGreaterThanOrEqual(4);
    const owners = await ownership(other, 'app_no_owner');
    expect(owners).toMatchObject({ database: other.user, schema: other.user, t: other.user, a_base: other.user, su_t: other.user, f: `${other.user} true` });
    expect(await tableSums(other, 'app_no_owner')).toEqual(await tableSums(pg, 'app'));
  });
});
