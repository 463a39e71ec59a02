/**
 * Monitoring end to end through Temporal with the real capture: a paused capture lets the slot's
 * restart lag grow past the configured (small) thresholds — WARNING, then CRITICAL — and back to
 * OK once the capture resumes; the worker's metrics serve the values; `pgincr check --nagios`
 * exits with the Nagios code. Then the slot is invalidated (max_slot_wal_keep_size) while the
 * capture is paused: the check reports an emergency, and the capture workflow fails with a
 * non-retryable SlotMissingError naming the slot and the way out (a new chain).
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { execa } from 'execa';
import { ActivityFailure, ApplicationFailure, WorkflowFailedError, type WorkflowHandle } from '@temporalio/client';
import { startCluster, type PgCluster } from '../../helpers/pg-cluster';
import { setupTemporal, temporalAddress, TEST_NAMESPACE } from '../../helpers/temporal';
import { pgincrTestEnv, waitFor, type PgincrTestEnv, runSetupWorkflow } from '../../helpers/pgincr-env';
import { createActivities } from '../../../src/activities';
import { createLogger } from '../../../src/logger';
import { workflowIds } from '../../../src/constants';
import { createMetrics, startMetricsServer, type MetricsServer, type PgincrMetrics } from '../../../src/monitor/metrics';
import { pauseSignal, resumeSignal, stopSignal } from '../../../src/workflows/signals';
import type { HealthResult } from '../../../src/activities/types';

jest.setTimeout(240_000);

const ROOT = resolve(__dirname, '../../..');
const MiB = 1024 ** 2;
const alerts = {
  restartLagWarningBytes: 1 * MiB,
  restartLagCriticalBytes: 4 * MiB,
  restartLagEmergencyBytes: 512 * MiB,
  repositoryDiskWarningPercent: 100,
};

describe('monitoring through Temporal with the real capture', () => {
  const slot = `mon_${randomUUID().slice(0, 8)}`;
  const captureId = workflowIds.capture('default', slot);
  const temporal = setupTemporal({ workflowsPath: require.resolve('../../../src/workflows') });
  let pg: PgCluster;
  let env: PgincrTestEnv;
  let metrics: PgincrMetrics;
  let activities: ReturnType<typeof createActivities>;
  let server: MetricsServer;
  let configFile: string;
  let configDir: string;

  beforeAll(async () => {
    pg = await startCluster({ settings: { max_slot_wal_keep_size: '1GB', wal_keep_size: 0, min_wal_size: '32MB', max_wal_size: '64MB' } });
    await pg.createDatabase('app');
    await pg.query('CREATE TABLE big (id int PRIMARY KEY, pad text)', [], 'app');
    const temporalConfig = { address: temporalAddress(), namespace: TEST_NAMESPACE };
    env = pgincrTestEnv(pg, 'app', { capture: { slot }, alerts, temporal: temporalConfig });
    metrics = createMetrics();
    activities = createActivities({ config: env.config, logger: createLogger({ level: 'silent', pretty: false }), metrics });
    server = await startMetricsServer(0, metrics.registry, '127.0.0.1');
    configDir = mkdtempSync(join(tmpdir(), 'pgincr-mon-config-'));
    configFile = join(configDir, 'pgincr.json');
    writeFileSync(
      configFile,
      JSON.stringify({
        repository: env.repository,
        profiles: { default: pg.profile('app') },
        capture: { slot },
        alerts,
        temporal: temporalConfig,
      }),
    );
  });
  afterAll(async () => {
    await server?.close();
    env?.cleanup();
    if (configDir) rmSync(configDir, { recursive: true, force: true });
    await pg?.stop();
  });

  let nextId = 1;
  const insertRows = (n: number) => {
    const from = nextId;
    nextId += n;
    return pg.query(`INSERT INTO big SELECT g, repeat('x', 200) FROM generate_series(${from}, ${from + n - 1}) g`, [], 'app');
  };
  const slotRow = async () =>
    (
      await pg.query<{ active: boolean; lag: string; wal_status: string }>(
        `SELECT active, pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)::text AS lag, wal_status FROM pg_replication_slots WHERE slot_name = $1`,
        [slot],
      )
    )[0];
  const growLagTo = (bytes: number) =>
    waitFor(
      `restart lag of ${slot} to reach ${bytes}`,
      async () => {
        if (Number((await slotRow())?.lag ?? 0) >= bytes) return true;
        await insertRows(2000);
        return false;
      },
      60_000,
      0,
    );
  const healthCheck = () =>
    temporal.client.workflow.execute('healthCheckWorkflow', {
      taskQueue: temporal.taskQueue,
      workflowId: temporal.workflowId('health'),
      args: [{ profile: 'default' }],
    }) as Promise<HealthResult>;
  const finding = (r: HealthResult, check: string) => r.findings.find((f) => f.check === check);
  const scrape = async () => {
    const res = await fetch(`http://127.0.0.1:${server.port}/metrics`);
    expect(res.status).toBe(200);
    return res.text();
  };
  const sample = (text: string, name: string) => {
    const m = new RegExp(`^${name}\\{slot="${slot}"\\} (\\S+)$`, 'm').exec(text);
    return m ? Number(m[1]) : undefined;
  };
  const cliCheck = () => execa(join(ROOT, 'bin/pgincr'), ['--config', configFile, 'check', '--nagios'], { reject: false, env: { PGINCR_LOG_LEVEL: 'error' } });

  it('goes WARNING → CRITICAL while the capture is paused and back to OK when it resumes; metrics and Nagios codes follow', async () => {
    await temporal.run(
      async () => {
        const { client, taskQueue } = temporal;
        const setup = await runSetupWorkflow(temporal);
        expect(setup.status).toBe('set up');
        const capture = await client.workflow.start('captureWorkflow', { taskQueue, workflowId: captureId, args: [{ profile: 'default', runForMs: 120_000 }] });
        try {
          await waitFor('the capture to hold the slot', async () => (await slotRow())?.active === true);
          await insertRows(100);
          await waitFor('the capture to record transactions', async () => (sample(await scrape(), 'pgincr_capture_transactions_total') ?? 0) > 0, 30_000);

          await capture.signal(pauseSignal);
          await waitFor('the paused capture to let go of the slot', async () => (await slotRow())?.active === false);
          await growLagTo(alerts.restartLagWarningBytes);
          const warning = await healthCheck();
          expect([warning.status, warning.exitCode]).toEqual(['warning', 1]);
          expect(finding(warning, 'slot.restart_lag')?.severity).toBe('warning');
          // Paused, not "running" (its memo): a warning with the resume hint; the free slot is expected then.
          expect(finding(warning, 'capture')).toMatchObject({
            check: 'capture',
            severity: 'warning',
            message: `capture workflow ${captureId} is paused: nothing is captured and the slot keeps WAL on the source until it resumes`,
          });
          expect(finding(warning, 'slot.active')?.severity).toBe('ok');

          await growLagTo(alerts.restartLagCriticalBytes);
          const critical = await healthCheck();
          expect([critical.status, critical.exitCode]).toEqual(['critical', 2]);
          expect(finding(critical, 'slot.restart_lag')?.severity).toBe('critical');
          const text = await scrape();
          expect(sample(text, 'pgincr_slot_restart_lag_bytes')).toBeGreaterThanOrEqual(alerts.restartLagCriticalBytes);
          expect(sample(text, 'pgincr_health_severity')).toBe(3);
          expect(sample(text, 'pgincr_capture_transactions_total')).toBeGreaterThan(0);
          expect(sample(text, 'pgincr_capture_bytes_total')).toBeGreaterThan(0);
          expect(sample(text, 'pgincr_capture_changes_total')).toBeGreaterThanOrEqual(100);
          expect(sample(text, 'pgincr_capture_lsn')).toBeGreaterThan(0);
          expect(sample(text, 'pgincr_last_full_backup_timestamp_seconds')).toBeGreaterThan(Date.now() / 1000 - 600);
          // The CLI: Nagios line and exit code, and it asks Temporal for the capture workflow.
          const cli = await cliCheck();
          expect(cli.exitCode).toBe(2);
          expect(cli.stdout.split('\n')[0]).toMatch(
            new RegExp(
              `^PGINCR CRITICAL - slot ${slot} keeps [\\d.]+ MiB of WAL on the source \\(critical at 4\\.0 MiB\\).* \\| restart_lag=\\d+B;${MiB};${4 * MiB};0 `,
            ),
          );

          await capture.signal(resumeSignal);
          let ok: HealthResult | undefined;
          await waitFor(
            'the check to be OK after the capture caught up',
            async () => {
              await pg.query('CHECKPOINT'); // logs the running transactions, so restart_lsn can move
              ok = await healthCheck();
              return ok.status === 'ok';
            },
            90_000,
            500,
          );
          expect(ok!.exitCode).toBe(0);
          expect(finding(ok!, 'slot.restart_lag')!.severity).toBe('ok');
          const nagios = await activities.runCheck({ profile: 'default', nagios: true });
          expect(nagios.report.exitCode).toBe(0);
          expect(nagios.text.split('\n')[0]).toMatch(new RegExp(`^PGINCR OK - slot ${slot} healthy`));
          expect(sample(await scrape(), 'pgincr_health_severity')).toBe(0);
        } catch (err) {
          await capture.terminate('test failed').catch(() => undefined);
          throw err;
        }
      },
      { activities },
    );
  });

  it('reports an invalidated slot as an emergency, and the capture fails with SlotMissingError instead of retrying', async () => {
    await temporal.run(
      async () => {
        const capture: WorkflowHandle = temporal.client.workflow.getHandle(captureId);
        try {
          await capture.signal(pauseSignal);
          await waitFor('the paused capture to let go of the slot', async () => (await slotRow())?.active === false);
          await pg.query("ALTER SYSTEM SET max_slot_wal_keep_size = '1MB'");
          await pg.query('SELECT pg_reload_conf()');
          await waitFor(
            `slot ${slot} to be lost`,
            async () => {
              await insertRows(1);
              await pg.query('SELECT pg_switch_wal()');
              await pg.query('CHECKPOINT');
              return (await slotRow())?.wal_status === 'lost';
            },
            60_000,
            0,
          );

          const lost = await healthCheck();
          expect([lost.status, lost.exitCode]).toEqual(['emergency', 2]);
          expect(finding(lost, 'slot.wal_status')).toMatchObject({
            severity: 'emergency',
            message: `replication slot ${slot} is invalidated (wal_status lost): the backup chain is broken`,
          });
          const nagios = await activities.runCheck({ profile: 'default', nagios: true });
          expect(nagios.report.exitCode).toBe(2);
          expect(nagios.text.split('\n')[0]).toMatch(new RegExp(`^PGINCR CRITICAL - EMERGENCY: replication slot ${slot} is invalidated`));
          expect(nagios.text).toContain(`pgincr slot drop ${slot} --confirm ${slot}`);
          expect(sample(await scrape(), 'pgincr_health_severity')).toBe(4);

          await capture.signal(resumeSignal);
          const started = Date.now();
          const failure = await capture.result().then(
            () => undefined,
            (err: unknown) => err,
          );
          // Non-retryable: it fails at once instead of retrying with backoff.
          expect(Date.now() - started).toBeLessThan(60_000);
          expect(failure).toBeInstanceOf(WorkflowFailedError);
          const activityFailure = (failure as WorkflowFailedError).cause;
          expect(activityFailure).toBeInstanceOf(ActivityFailure);
          const cause = (activityFailure as ActivityFailure).cause as ApplicationFailure;
          expect(cause).toBeInstanceOf(ApplicationFailure);
          expect(cause.type).toBe('SlotMissingError');
          expect(cause.message).toContain(`replication slot is invalidated: slot ${slot}`);
          expect(cause.message).toContain('pgincr setup --new-chain');
          expect((await capture.describe()).status.name).toBe('FAILED');

          const after = await healthCheck();
          expect([after.status, after.exitCode]).toEqual(['emergency', 2]);
          expect(finding(after, 'capture')).toMatchObject({
            severity: 'critical',
            message: expect.stringMatching(new RegExp(`^capture workflow ${captureId} is not running \\(FAILED\\)`)),
          });
        } finally {
          await capture.signal(stopSignal).catch(() => undefined);
          await capture.terminate('test cleanup').catch(() => undefined);
        }
      },
      { activities },
    );
  });
});
