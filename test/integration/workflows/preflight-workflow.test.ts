import { startCluster, type PgCluster } from '../../helpers/pg-cluster';
import { setupTemporal } from '../../helpers/temporal';
import { pgincrTestEnv, type PgincrTestEnv } from '../../helpers/pgincr-env';
import type { PreflightResult } from '../../../src/activities/types';

jest.setTimeout(300_000);

describe('preflightWorkflow through a real Temporal server and worker', () => {
  let logical: PgCluster;
  let replica: PgCluster;
  let envLogical: PgincrTestEnv;
  let envReplica: PgincrTestEnv;
  const temporal = setupTemporal({ workflowsPath: require.resolve('../../../src/workflows') });

  beforeAll(async () => {
    [logical, replica] = await Promise.all([
      startCluster({ settings: { max_slot_wal_keep_size: '10GB' } }),
      startCluster({ settings: { wal_level: 'replica' } }),
    ]);
    await logical.createDatabase('app');
    await logical.query('CREATE TABLE keyed (id int PRIMARY KEY)', [], 'app');
    await replica.createDatabase('app');
    envLogical = pgincrTestEnv(logical, 'app');
    envReplica = pgincrTestEnv(replica, 'app');
  });
  afterAll(async () => {
    envLogical?.cleanup();
    envReplica?.cleanup();
    await Promise.all([logical?.stop(), replica?.stop()]);
  });

  const preflight = (env: PgincrTestEnv) =>
    temporal.run(
      () =>
        temporal.client.workflow.execute('preflightWorkflow', {
          taskQueue: temporal.taskQueue,
          workflowId: temporal.workflowId('preflight'),
          args: [{ profile: 'default' }],
        }) as Promise<PreflightResult>,
      { activities: env.activities },
    );

  it('reports ready on a logical cluster', async () => {
    const report = await preflight(envLogical);
    expect(report.findings.filter((f) => f.status === 'fail')).toEqual([]);
    expect(report.ready).toBe(true);
    expect(report.exitCode).toBe(0);
  });

  it('reports not ready naming wal_level on a wal_level=replica cluster', async () => {
    const report = await preflight(envReplica);
    expect(report.ready).toBe(false);
    expect(report.exitCode).toBe(2);
    const walLevel = report.findings.find((f) => f.status === 'fail' && /wal_level/.test(f.message));
    expect(walLevel?.message).toMatch(/wal_level is 'replica'; set wal_level = logical/);
  });

  it('warns naming a table without a primary key', async () => {
    await logical.query('CREATE TABLE "Odd Keyless" (a int, b text)', [], 'app');
    try {
      const report = await preflight(envLogical);
      expect(report.exitCode).toBe(1);
      expect(report.findings.some((f) => f.status === 'warning' && f.message.includes('"public"."Odd Keyless"'))).toBe(true);
    } finally {
      await logical.query('DROP TABLE "Odd Keyless"', [], 'app');
    }
  });

  it('rejects an invalid input at once, naming the field', async () => {
    await expect(
      temporal.run(
        () =>
          temporal.client.workflow.execute('preflightWorkflow', {
            taskQueue: temporal.taskQueue,
            workflowId: temporal.workflowId('bad'),
            args: [{ profile: 'no spaces allowed' }],
          }),
        { activities: envLogical.activities },
      ),
    ).rejects.toThrow(/workflow execution failed/i);
  });
});
