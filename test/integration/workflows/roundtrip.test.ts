/**
 * The central test: workload on the source → setup (base) → capture workflow → stop → restore
 * workflow → the restored database equals the source (per-table rows and content checksums,
 * sequences), all through a real Temporal server and a real PostgreSQL.
 */
import { startCluster, type PgCluster } from '../../helpers/pg-cluster';
import { setupTemporal } from '../../helpers/temporal';
import { pgincrTestEnv, waitFor, type PgincrTestEnv } from '../../helpers/pgincr-env';
import { BASE_DATA, CHANGES, MIXED_SCHEMA, runStatements, sequenceValues, tableSums } from '../../helpers/workload';
import type { SetupResult } from '../../../src/workflows/setup';
import type { RestoreReport } from '../../../src/workflows/restore';
import type { CaptureStatus } from '../../../src/workflows/signals';
import { stopSignal } from '../../../src/workflows/signals';

jest.setTimeout(300_000);

describe('round trip through Temporal: setup → capture → restore equals the source', () => {
  let pg: PgCluster;
  let env: PgincrTestEnv;
  const temporal = setupTemporal({ workflowsPath: require.resolve('../../../src/workflows') });

  beforeAll(async () => {
    pg = await startCluster();
    await pg.createDatabase('app');
    await runStatements(pg, 'app', [MIXED_SCHEMA, BASE_DATA]);
    env = pgincrTestEnv(pg, 'app');
  });
  afterAll(async () => {
    env?.cleanup();
    await pg?.stop();
  });

  it('restores base + segments to exactly the source state', async () => {
    await temporal.run(async () => {
      const { client, taskQueue } = temporal;
      const setup = (await client.workflow.execute('setupWorkflow', {
        taskQueue, workflowId: temporal.workflowId('setup'), args: [{ profile: 'default', startCapture: false }],
      })) as SetupResult;
      expect(setup.status).toBe('set up');
      expect(setup.base?.lsn).toMatch(/^[0-9A-F]+\/[0-9A-F]+$/);

      // A second setup changes nothing.
      const again = (await client.workflow.execute('setupWorkflow', {
        taskQueue, workflowId: temporal.workflowId('setup-again'), args: [{ profile: 'default', startCapture: false }],
      })) as SetupResult;
      expect(again.status).toBe('already set up');

      const capture = await client.workflow.start('captureWorkflow', {
        taskQueue, workflowId: temporal.workflowId('capture'), args: [{ profile: 'default', runForMs: 4000 }],
      });
      await runStatements(pg, 'app', CHANGES);
      const [{ lsn }] = await pg.query<{ lsn: string }>('SELECT pg_current_wal_lsn()::text AS lsn', [], 'app') as [{ lsn: string }];
      await waitFor('the slot to confirm the workload', async () => {
        const rows = await pg.query<{ ok: boolean }>(
          `SELECT confirmed_flush_lsn >= $1::pg_lsn AS ok FROM pg_replication_slots WHERE slot_name = 'pgincr'`, [lsn]);
        return rows[0]?.ok === true;
      }, 120_000);
      await capture.signal(stopSignal);
      const status = (await capture.result()) as CaptureStatus;
      expect(status.state).toBe('stopped');

      const source = await tableSums(pg, 'app');
      const sourceSequences = await sequenceValues(pg, 'app');
      const report = (await client.workflow.execute('restoreWorkflow', {
        taskQueue, workflowId: temporal.workflowId('restore'), args: [{ profile: 'default', targetProfile: 'admin', targetDb: 'app_restored' }],
      })) as RestoreReport;
      expect(report.apply.appliedTransactions).toBeGreaterThanOrEqual(CHANGES.length - 2);
      expect(await tableSums(pg, 'app_restored')).toEqual(source);
      const restoredSequences = await sequenceValues(pg, 'app_restored');
      for (const [name, value] of Object.entries(sourceSequences)) {
        expect(BigInt(restoredSequences[name] ?? '0')).toBeGreaterThanOrEqual(BigInt(value));
      }
      // A second restore into the same name is refused, naming it.
      await expect(client.workflow.execute('restoreWorkflow', {
        taskQueue, workflowId: temporal.workflowId('restore-again'), args: [{ profile: 'default', targetProfile: 'admin', targetDb: 'app_restored' }],
      })).rejects.toThrow();
    }, { activities: env.activities });
  });
});
