/**
 * A failing capture explains itself, through the real Temporal dev server and PostgreSQL:
 * - the source goes down under a running capture: Temporal retries the activity with backoff
 *   (transient), the repository records the failure, `pgincr check --nagios` is CRITICAL after
 *   `alerts.captureFailingCritical` naming it, `capture status` shows it, the webhook fires once
 *   for the incident and once when the capture makes progress again, and Prometheus counts the
 *   failures by type;
 * - the capture's slot is dropped under it: the workflow fails within seconds, not retried, with
 *   SlotMissingError and what to do; a restore to "latest" then says how far the chain reaches
 *   and that the capture stopped.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { execa } from 'execa';
import { ActivityFailure, type ApplicationFailure, WorkflowFailedError } from '@temporalio/client';
import { RetryState } from '@temporalio/common';
import { startCluster, type PgCluster } from '../../helpers/pg-cluster';
import { setupTemporal, temporalAddress, TEST_NAMESPACE } from '../../helpers/temporal';
import { pgincrTestEnv, waitFor, type PgincrTestEnv, runSetupWorkflow } from '../../helpers/pgincr-env';
import { chainOf } from '../../helpers/backup-fixture';
import { createActivities } from '../../../src/activities';
import { createLogger } from '../../../src/logger';
import { workflowIds } from '../../../src/constants';
import { createMetrics, type PgincrMetrics } from '../../../src/monitor/metrics';
import { loadCaptureFailure } from '../../../src/monitor/capture-failures';
import { rotateSignal, stopSignal } from '../../../src/workflows/signals';
import type { AlertPayload } from '../../../src/monitor/alerts';
import type { RestoreReport } from '../../../src/workflows/restore';

jest.setTimeout(300_000);

const ROOT = resolve(__dirname, '../../..');

describe('a failing capture', () => {
  const slot = `fail_${randomUUID().slice(0, 8)}`;
  const captureId = workflowIds.capture('default', slot);
  const temporal = setupTemporal({ workflowsPath: require.resolve('../../../src/workflows') });
  let pg: PgCluster;
  let env: PgincrTestEnv;
  let metrics: PgincrMetrics;
  let activities: ReturnType<typeof createActivities>;
  let configDir: string;
  let configFile: string;
  let hook: Server;
  const received: AlertPayload[] = [];

  beforeAll(async () => {
    hook = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => {
        body += c.toString();
      });
      req.on('end', () => {
        received.push(JSON.parse(body) as AlertPayload);
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((done) => hook.listen(0, '127.0.0.1', done));
    const webhookUrl = `http://127.0.0.1:${(hook.address() as AddressInfo).port}/alert`;
    pg = await startCluster();
    await pg.createDatabase('app');
    await pg.query('CREATE TABLE t (id int PRIMARY KEY, v text)', [], 'app');
    const temporalConfig = { address: temporalAddress(), namespace: TEST_NAMESPACE, taskQueue: temporal.taskQueue };
    const alerts = { captureFailingCritical: '3s', repositoryDiskWarningPercent: 100, webhookUrl };
    env = pgincrTestEnv(pg, 'app', { capture: { slot }, alerts, temporal: temporalConfig });
    metrics = createMetrics();
    activities = createActivities({ config: env.config, logger: createLogger({ level: 'silent', pretty: false }), metrics });
    configDir = mkdtempSync(join(tmpdir(), 'pgincr-fail-config-'));
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
    await new Promise<void>((done) => hook?.close(() => done()));
    env?.cleanup();
    if (configDir) rmSync(configDir, { recursive: true, force: true });
    await pg?.stop();
  });

  const cli = (...args: string[]) => execa(join(ROOT, 'bin/pgincr'), ['--config', configFile, ...args], { reject: false, env: { PGINCR_LOG_LEVEL: 'error' } });
  const healthCheck = () =>
    temporal.client.workflow.execute('healthCheckWorkflow', {
      taskQueue: temporal.taskQueue,
      workflowId: temporal.workflowId('health'),
      args: [{ profile: 'default' }],
    });
  const failingAlerts = () => received.filter((a) => a.check === 'capture.failing');
  const failuresCounted = async () => {
    const text = await metrics.registry.metrics();
    return [...text.matchAll(new RegExp(`^pgincr_capture_failures_total\\{slot="${slot}",error_type="([^"]+)"\\} (\\d+)$`, 'gm'))].map(
      (m) => [m[1], Number(m[2])] as const,
    );
  };
  let nextId = 1;
  const insert = () => pg.query(`INSERT INTO t VALUES (${nextId++}, 'x')`, [], 'app');

  it('source down: retried, CRITICAL in check after captureFailingCritical naming the failure, one alert, one recovery', async () => {
    await temporal.run(
      async () => {
        expect((await runSetupWorkflow(temporal)).status).toBe('set up');
        const capture = await temporal.client.workflow.start('captureWorkflow', {
          taskQueue: temporal.taskQueue,
          workflowId: captureId,
          args: [{ profile: 'default', runForMs: 120_000 }],
        });
        try {
          await insert();
          await waitFor(
            'the capture to make a position durable',
            async () => /pgincr_capture_seconds_since_durable_commit\{slot="[^"]+"\} \d/.test(await metrics.registry.metrics()),
            60_000,
          );
          await capture.signal(rotateSignal);
          await waitFor('a sealed segment', async () => (await activities.listRepository({ profile: 'default' })).text.includes('.sql'), 60_000);

          pg.stopServer('fast');
          const chain = chainOf(env.repository);
          await waitFor('two failed attempts recorded in the repository', async () => ((await loadCaptureFailure(chain, slot))?.failures ?? 0) >= 2, 60_000);
          const failure = (await loadCaptureFailure(chain, slot))!;
          expect(failure).toMatchObject({ transient: true, nonRetryable: false });
          expect(failure.message).toMatch(/ECONNREFUSED|ENOENT|terminat|shut/i);

          // Critical once it has failed for 3 s without progress (Temporal unreachable or not, the record is enough).
          await waitFor(
            'check to turn critical',
            async () => (await activities.runCheck({ profile: 'default', nagios: true })).report.exitCode === 2,
            30_000,
            500,
          );
          const nagios = await cli('check', '--nagios');
          expect(nagios.exitCode).toBe(2);
          const first = nagios.stdout.split('\n')[0]!;
          // the attempt number comes from Temporal's describe() of the pending activity
          expect(first).toMatch(
            /^PGINCR CRITICAL - .*capture has made no progress at \d+\/[0-9A-F]+ for (?:\d+h )?(?:\d+m )?\d+s \(\d+ failed attempts, attempt \d+\): last failure \w+: /,
          );
          expect(first).toContain(failure.message.slice(0, 30));

          const status = await cli('capture', 'status');
          expect(status.stdout).toMatch(
            new RegExp(`last failure  ${failure.errorType}: .*\\(failing since ${failure.since}, \\d+ failed attempts at \\S+, now attempt \\d+\\)`),
          );

          await healthCheck();
          await healthCheck();
          await waitFor('the incident alert', async () => failingAlerts().length >= 1, 10_000);
          expect(failingAlerts()).toEqual([
            expect.objectContaining({ event: 'alert', severity: 'critical', slot, message: expect.stringContaining('capture has made no progress') }),
          ]);
          const since = /^pgincr_capture_seconds_since_durable_commit\{slot="[^"]+"\} (\S+)$/m.exec(await metrics.registry.metrics());
          expect(Number(since?.[1])).toBeGreaterThanOrEqual(3);
          const counted = await failuresCounted();
          expect(counted.reduce((n, [, v]) => n + v, 0)).toBeGreaterThanOrEqual(2);

          pg.startServer();
          await waitFor(
            'the capture to make progress and clear the failure',
            async () => {
              await insert().catch(() => undefined);
              return (await loadCaptureFailure(chain, slot)) === null;
            },
            120_000,
            1000,
          );
          await healthCheck();
          await healthCheck();
          await waitFor('the recovery alert', async () => failingAlerts().length >= 2, 10_000);
          expect(failingAlerts().map((a) => [a.event, a.severity])).toEqual([
            ['alert', 'critical'],
            ['recovered', 'ok'],
          ]);
          expect((await activities.runCheck({ profile: 'default', nagios: true })).report.findings.find((f) => f.check === 'capture.failing')).toMatchObject({
            severity: 'ok',
            message: 'no capture failure since the last progress',
          });
        } catch (err) {
          await capture.terminate('test failed').catch(() => undefined);
          throw err;
        }
      },
      { activities },
    );
  });

  it('slot dropped under it: fails within seconds without retrying, and a restore to latest says how far it reaches', async () => {
    await temporal.run(
      async () => {
        const capture = temporal.client.workflow.getHandle(captureId);
        try {
          const started = Date.now();
          await waitFor(
            `slot ${slot} to be dropped`,
            async () => {
              await pg.query('SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE slot_name = $1 AND active', [slot]);
              try {
                await pg.query('SELECT pg_drop_replication_slot($1)', [slot]);
                return true;
              } catch (error) {
                if (/does not exist/.test((error as Error).message)) return true;
                return false;
              }
            },
            30_000,
            50,
          );
          const failure = await capture.result().then(
            () => undefined,
            (err: unknown) => err,
          );
          expect(Date.now() - started).toBeLessThan(30_000);
          expect(failure).toBeInstanceOf(WorkflowFailedError);
          const activityFailure = (failure as WorkflowFailedError).cause as ActivityFailure;
          expect(activityFailure).toBeInstanceOf(ActivityFailure);
          expect(activityFailure.retryState).toBe(RetryState.NON_RETRYABLE_FAILURE);
          const cause = activityFailure.cause as ApplicationFailure;
          expect(cause.type).toBe('SlotMissingError');
          expect(cause.message).toContain(`replication slot is missing: slot ${slot}`);
          expect(cause.message).toContain('pgincr setup --new-chain');

          const check = await activities.runCheck({ profile: 'default', nagios: false });
          expect(check.report.findings.find((f) => f.check === 'capture.failing')).toMatchObject({
            severity: 'critical',
            message: expect.stringMatching(/^capture stopped at \S+ on an error a retry cannot fix: SlotMissingError: replication slot is missing/),
          });

          // A transaction after the capture stopped is in no segment: the source is past the chain's end
          // (without it, whether the WAL had moved past the open segment's last COMMIT was up to timing).
          await insert();
          // Restore to latest while the capture is stopped: the report and the CLI say how far it reaches.
          const restored = await cli('restore', '--target-db', 'app_latest');
          expect(restored.exitCode).toBe(0);
          const listing = await activities.listRepository({ profile: 'default' });
          const segments = (listing.data as { catalog: { segments: { endLsn: string; lastCommitTime: string }[] } }).catalog.segments;
          const last = segments.at(-1)!;
          // Past the sealed segments when the open one holds whole transactions (read up to its last COMMIT).
          const open = /read up to its last COMMIT instead, \d+ whole transactions up to (\S+) \(last commit (\S+)\)/.exec(restored.stdout);
          const reach = open ? { lsn: open[1]!, time: open[2]! } : { lsn: last.endLsn, time: last.lastCommitTime };
          expect(restored.stdout).toContain(`chain reaches ${reach.lsn} (last commit ${reach.time}): this restore includes nothing after it`);
          expect(restored.stdout).toMatch(
            /WARNING: capture stopped at \S+ on SlotMissingError: replication slot is missing.*: changes made on the source since are not in any segment yet/,
          );
          expect(restored.stdout).toMatch(
            /the source's WAL was at \d+\/[0-9A-F]+, .* past the chain's end: transactions committed there are not in this restore/,
          );
          const result = (await temporal.client.workflow.getHandle(workflowIds.restore('app_latest')).result()) as RestoreReport;
          expect(result.plan.reach).toMatchObject({
            lsn: reach.lsn,
            capture: 'failing',
            behind: true,
            failure: { errorType: 'SlotMissingError', nonRetryable: true },
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
