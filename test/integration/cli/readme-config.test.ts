/**
 * The CLI as README shows it, with README's configuration shape (one profile named `app`,
 * `"defaultProfile": "app"`), against a real PostgreSQL and the real Temporal dev server: the
 * capture signals act within seconds while the capture activity runs (its run time is the
 * default hour), and `restore --to-time` takes the time as psql prints it.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseConfig, type Config } from '../../../src/config';
import { createLogger } from '../../../src/logger';
import { createActivities } from '../../../src/activities';
import { workflowIds } from '../../../src/constants';
import { parseLsn } from '../../../src/core/lsn';
import { startCluster, type PgCluster } from '../../helpers/pg-cluster';
import { setupTemporal, temporalAddress, terminateIfRunning, TEST_NAMESPACE } from '../../helpers/temporal';
import { runSetupWorkflow, waitFor } from '../../helpers/pgincr-env';
import { BASE_DATA, MIXED_SCHEMA, runStatements, tableSums } from '../../helpers/workload';
import { chainOf, readCatalog, waitSlotCaughtUp } from '../../helpers/backup-fixture';
import { captureStatusQuery, type CaptureStatus } from '../../../src/workflows/signals';

jest.setTimeout(300_000);

const ROOT = resolve(__dirname, '../../..');
/** "Within seconds": from the command's return to the effect (the activity polls every second). */
const WITHIN_MS = 15_000;

function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((done) => {
    execFile(
      join(ROOT, 'bin/pgincr'),
      args,
      { cwd: ROOT, env: { ...process.env, TEMPORAL_ADDRESS: temporalAddress() }, timeout: 240_000 },
      (err, stdout, stderr) => done({ code: err ? ((err as { code?: number }).code ?? -1) : 0, stdout, stderr }),
    );
  });
}

describe('README configuration (profile "app") driven through bin/pgincr', () => {
  let pg: PgCluster;
  let repository: string;
  let configFile: string;
  let config: Config;
  const temporal = setupTemporal({ workflowsPath: require.resolve('../../../src/workflows') });

  beforeAll(async () => {
    await terminateIfRunning(workflowIds.capture('app', 'pgincr')); // README's profile and slot, on the shared server
    pg = await startCluster();
    await pg.createDatabase('app');
    await runStatements(pg, 'app', [MIXED_SCHEMA, BASE_DATA]);
    repository = mkdtempSync(join(tmpdir(), 'pgincr-repo-'));
    // README's shape; the capture's own run time stays at its default (an hour).
    const file = {
      repository,
      profiles: { app: pg.profile('app') },
      defaultProfile: 'app',
      capture: { heartbeatInterval: '1s', segmentMaxAge: '1h', sequenceInterval: '2s' },
      temporal: { address: temporalAddress(), namespace: TEST_NAMESPACE, taskQueue: temporal.taskQueue },
    };
    configFile = join(repository, 'pgincr.json');
    writeFileSync(configFile, JSON.stringify(file));
    config = parseConfig(file, {}, 'test config');
  });
  afterAll(async () => {
    if (repository) rmSync(repository, { recursive: true, force: true });
    await pg?.stop();
  });

  it('rotate, pause, resume and stop act within seconds; restore --to-time takes the psql form', async () => {
    const activities = createActivities({ config, logger: createLogger({ level: process.env.PGINCR_TEST_LOG_LEVEL ?? 'warn', pretty: false }) });
    await temporal.run(
      async () => {
        expect((await runSetupWorkflow(temporal, { profile: 'app' })).status).toBe('set up');
        const captureId = workflowIds.capture('app', config.capture.slot);
        const capture = await temporal.client.workflow.start('captureWorkflow', {
          taskQueue: temporal.taskQueue,
          workflowId: captureId,
          args: [{ profile: 'app' }],
        });
        const chain = chainOf(repository);
        const sealedThrough = () => (readCatalog(chain).segments ?? []).reduce((end, s) => (parseLsn(s.endLsn) > end ? parseLsn(s.endLsn) : end), 0n);
        const activityRunning = async () => ((await capture.describe()).raw.pendingActivities ?? []).some((a) => a.activityType?.name === 'captureChanges');
        await waitFor('the capture activity to run', activityRunning, 60_000);

        // Rows before P; P as psql prints it in a session at +05:30; rows after P.
        await runStatements(pg, 'app', [`INSERT INTO orders (user_id, total, note) SELECT 1, g, 'before P' FROM generate_series(1, 200) g`]);
        const client = await pg.connect('app');
        await client.query(`SET TimeZone = 'Asia/Kolkata'`);
        const pointP = ((await client.query('SELECT clock_timestamp()::text AS t')).rows[0] as { t: string }).t;
        await client.end();
        expect(pointP).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+\+05:30$/);
        const atP = await tableSums(pg, 'app');
        await runStatements(pg, 'app', [`UPDATE orders SET note = 'after P' WHERE id < 20`, `DELETE FROM orders WHERE note = 'before P' AND total > 150`]);
        const [{ lsn }] = (await pg.query<{ lsn: string }>('SELECT pg_current_wal_insert_lsn()::text AS lsn', [], 'app')) as [{ lsn: string }];
        await waitSlotCaughtUp(pg, 'app', config.capture.slot);
        expect(sealedThrough()).toBeLessThan(parseLsn(lsn));

        const rotated = await cli(['--config', configFile, 'capture', 'rotate']);
        expect(rotated).toMatchObject({ code: 0, stdout: expect.stringContaining(`rotate: signalled ${captureId}`) });
        const rotateAt = Date.now();
        await waitFor('a sealed segment holding the rows', async () => sealedThrough() >= parseLsn(lsn), WITHIN_MS);
        const rotateMs = Date.now() - rotateAt;

        const restored = await cli(['--config', configFile, 'restore', '--target-db', 'app_at_p', '--to-time', pointP]);
        expect(restored.stderr).not.toMatch(/unknown profile|Invalid/);
        expect(restored.code).toBe(0);
        const [{ utc }] = (await pg.query<{ utc: string }>(
          `SELECT to_char($1::timestamptz AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS utc`,
          [pointP],
          'app',
        )) as [{ utc: string }];
        expect(restored.stdout).toContain(`target: commit time <= ${utc} (UTC)`);
        expect(await tableSums(pg, 'app_at_p')).toEqual(atP);

        const noZone = await cli(['--config', configFile, 'restore', '--target-db', 'app_no_zone', '--to-time', pointP.slice(0, 19)]);
        expect(noZone.code).not.toBe(0);
        expect(noZone.stderr).toContain(`hint: this time has no time zone; add one, like '${pointP.slice(0, 19)}+00'`);

        expect((await cli(['--config', configFile, 'capture', 'pause'])).code).toBe(0);
        await waitFor('the capture activity to stop on pause', async () => !(await activityRunning()), WITHIN_MS);
        expect((await capture.query(captureStatusQuery)).state).toBe('paused');
        expect((await cli(['--config', configFile, 'capture', 'resume'])).code).toBe(0);
        await waitFor('the capture activity to run again on resume', activityRunning, WITHIN_MS);

        expect((await cli(['--config', configFile, 'capture', 'stop'])).code).toBe(0);
        const stopAt = Date.now();
        await waitFor('the capture workflow to stop', async () => (await capture.describe()).status.name === 'COMPLETED', WITHIN_MS);
        expect(((await capture.result()) as CaptureStatus).state).toBe('stopped');
        process.stderr.write(`capture rotate sealed the rows ${rotateMs} ms after the command; stop finished in ${Date.now() - stopAt} ms\n`);
      },
      { activities },
    );
  });
});
