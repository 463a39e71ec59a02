/**
 * Issue 7: Temporal Schedules from the configuration, against the real Temporal dev server:
 * applying twice gives the same set, `listSchedules` shows the configured cron, pause/unpause
 * show in describe(), and a triggered full backup runs to completion.
 */
import { randomUUID } from 'node:crypto';
import { ScheduleOverlapPolicy, type ScheduleDescription } from '@temporalio/client';
import { startCluster, type PgCluster } from '../../helpers/pg-cluster';
import { setupTemporal } from '../../helpers/temporal';
import { pgincrTestEnv, waitFor, type PgincrTestEnv } from '../../helpers/pgincr-env';
import { BASE_DATA, MIXED_SCHEMA, runStatements } from '../../helpers/workload';
import { chainOf, readCatalog } from '../../helpers/backup-fixture';
import { applySchedules, listSchedules, scheduleHandle } from '../../../src/schedules';
import { scheduleIds } from '../../../src/constants';
import type { FullBackupResult } from '../../../src/workflows/full-backup';

jest.setTimeout(300_000);

const CRONS = {
  fullBackup: '0 3 * * *',
  globalsBackup: '30 3 * * 1',
  healthCheck: '*/5 * * * *',
  retention: '0 4 1 * *',
  verify: '15 5 * * *',
};
const TYPES: Record<keyof typeof CRONS, string> = {
  fullBackup: 'fullBackupWorkflow',
  globalsBackup: 'globalsBackupWorkflow',
  healthCheck: 'healthCheckWorkflow',
  retention: 'retentionWorkflow',
  verify: 'verifyWorkflow',
};

describe('schedules', () => {
  let pg: PgCluster;
  let env: PgincrTestEnv;
  // A profile name unique to this run: schedule ids are per namespace, and the server is shared.
  const profile = `s${randomUUID().slice(0, 8)}`;
  const temporal = setupTemporal({ workflowsPath: require.resolve('../../../src/workflows') });

  beforeAll(async () => {
    pg = await startCluster();
    await pg.createDatabase('app');
    await runStatements(pg, 'app', [MIXED_SCHEMA, BASE_DATA]);
    env = pgincrTestEnv(pg, 'app', {
      profiles: { default: pg.profile('app'), [profile]: pg.profile('app'), admin: pg.profile('postgres') },
      temporal: { taskQueue: temporal.taskQueue },
      schedules: {
        fullBackup: { cron: CRONS.fullBackup },
        globalsBackup: { cron: CRONS.globalsBackup },
        healthCheck: { cron: CRONS.healthCheck, paused: true },
        retention: { cron: CRONS.retention },
        verify: { cron: CRONS.verify },
      },
    });
  });
  afterAll(async () => {
    for (const id of Object.values(scheduleIds).map((f) => f(profile))) {
      await temporal.client.schedule
        .getHandle(id)
        .delete()
        .catch(() => undefined);
    }
    env?.cleanup();
    await pg?.stop();
  });

  const describeAll = async () => {
    const out: Record<string, ScheduleDescription> = {};
    for (const [key, id] of Object.entries(scheduleIds)) out[key] = await temporal.client.schedule.getHandle(id(profile)).describe();
    return out;
  };
  const shape = (d: ScheduleDescription) => ({
    calendars: d.spec.calendars,
    overlap: d.policies.overlap,
    paused: d.state.paused,
    action:
      d.action.type === 'startWorkflow' ? { type: d.action.workflowType, args: d.action.args, taskQueue: d.action.taskQueue, memo: d.action.memo } : d.action,
  });

  it('applies idempotently; list shows the configured cron', async () => {
    const first = await applySchedules(temporal.client, env.config, profile);
    expect(first.map((r) => r.action)).toEqual(Array(5).fill('created'));
    const afterFirst = await describeAll();
    const second = await applySchedules(temporal.client, env.config, profile);
    expect(second.map((r) => r.action)).toEqual(Array(5).fill('updated'));
    const afterSecond = await describeAll();
    for (const key of Object.keys(CRONS) as (keyof typeof CRONS)[]) {
      const d = afterSecond[key]!;
      expect(shape(d)).toEqual(shape(afterFirst[key]!));
      expect(shape(d)).toMatchObject({
        overlap: ScheduleOverlapPolicy.SKIP,
        paused: key === 'healthCheck',
        action: { type: TYPES[key], args: [{ profile }], taskQueue: temporal.taskQueue, memo: { pgincrCron: CRONS[key] } },
      });
      expect(d.spec.calendars?.length).toBeGreaterThan(0);
    }
    const rows = await listSchedules(temporal.client, profile);
    expect(rows.map((r) => [r.scheduleId, r.workflowType, r.cron, r.paused])).toEqual(
      (Object.keys(CRONS) as (keyof typeof CRONS)[])
        .map((k) => [scheduleIds[k](profile), TYPES[k], CRONS[k], k === 'healthCheck'])
        .sort((a, b) => String(a[0]).localeCompare(String(b[0]))),
    );
  });

  it('pause and unpause show in describe()', async () => {
    const handle = scheduleHandle(temporal.client, profile, 'full-backup');
    await handle.pause('test pause');
    expect((await handle.describe()).state).toMatchObject({ paused: true, note: 'test pause' });
    await handle.unpause('test unpause');
    expect((await handle.describe()).state.paused).toBe(false);
    // A re-apply keeps the configured cron and state.
    await applySchedules(temporal.client, env.config, profile);
    expect((await listSchedules(temporal.client, profile)).find((r) => r.scheduleId === handle.scheduleId)).toMatchObject({
      cron: CRONS.fullBackup,
      paused: false,
    });
  });

  it('a triggered full backup runs to completion', async () => {
    await temporal.run(
      async () => {
        await temporal.client.workflow.execute('setupWorkflow', {
          taskQueue: temporal.taskQueue,
          workflowId: temporal.workflowId('setup'),
          args: [{ profile, startCapture: false }],
        });
        const chain = chainOf(env.repository);
        const basesBefore = readCatalog(chain).bases.length;
        const handle = scheduleHandle(temporal.client, profile, 'full-backup');
        await handle.trigger();
        let workflowId: string | undefined;
        await waitFor(
          'the schedule to start a workflow',
          async () => {
            const d = await handle.describe();
            workflowId = d.info.recentActions[0]?.action.workflow.workflowId ?? d.info.runningActions[0]?.workflow.workflowId;
            return workflowId !== undefined;
          },
          60_000,
        );
        expect(workflowId).toMatch(new RegExp(`^${scheduleIds.fullBackup(profile)}-run`));
        const result = (await temporal.client.workflow.getHandle(workflowId!).result()) as FullBackupResult;
        expect(result.baseId).toMatch(/^\d{8}T\d{6}Z_[0-9A-F]{16}$/);
        // No capture runs here: the base is complete, its LSN not yet reached by sealed segments.
        expect(result.coverage).toMatchObject({ covered: false, reason: expect.stringContaining('no capture is running') });
        const catalog = readCatalog(chain);
        expect(catalog.bases).toHaveLength(basesBefore + 1);
        expect(catalog.bases.at(-1)?.id).toBe(result.baseId);
      },
      { activities: env.activities },
    );
  });
});
