import { spawn } from 'node:child_process';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { alertsSchema } from '../../src/config';
import { saveCatalog } from '../../src/adapters/fs/catalog-store';
import { addBase, addSegment, addVerification, emptyCatalog } from '../../src/core/catalog/catalog';
import { formatNagios, type HealthReport } from '../../src/core/monitor/health';
import { runHealthCheck, type AlertsConfig, type HealthCheckOptions } from '../../src/monitor/check';
import { createMetrics, startMetricsServer, updateFromHealth } from '../../src/monitor/metrics';
import { emitReportAlerts, type AlertLogger } from '../../src/monitor/alerts';
import { advanceSlot, dropSlot, maybeAutoDrop } from '../../src/monitor/slot-admin';
import { startCluster, type PgCluster } from '../helpers/pg-cluster';
import { waitForValue } from '../helpers/wait';

const PG_BIN = process.env.PGINCR_PG_BIN ?? '/usr/lib/postgresql/15/bin';
const KiB = 1024;
const MiB = 1024 ** 2;

const alerts: AlertsConfig = alertsSchema.parse({
  restartLagWarningBytes: 256 * KiB,
  restartLagCriticalBytes: 4 * MiB,
  restartLagEmergencyBytes: 512 * MiB,
  repositoryDiskWarningPercent: 99,
});

const pollUntil = <T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> => waitForValue(what, fn, timeoutMs, 100);

function fakeLogger() {
  const events: { level: string; fields: Record<string, unknown>; msg: string }[] = [];
  const at = (level: string) => (fields: Record<string, unknown>, msg: string) => void events.push({ level, fields, msg });
  const logger = { info: at('info'), warn: at('warn'), error: at('error'), fatal: at('fatal') } as unknown as AlertLogger;
  return { logger, events };
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString('utf8')));
    req.on('end', () => resolve(body));
  });
}

jest.setTimeout(120_000);

describe('health check against a real cluster', () => {
  let pg: PgCluster;
  let chainDir: string;
  let options: (slot: string, extra?: Partial<HealthCheckOptions>) => HealthCheckOptions;

  const restartLag = async (slot: string) =>
    Number(
      (
        await pg.query<{ lag: string }>(
          'SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)::text AS lag FROM pg_replication_slots WHERE slot_name = $1',
          [slot],
        )
      )[0]!.lag,
    );
  const growLagTo = async (slot: string, bytes: number) => {
    await pollUntil(`restart lag of ${slot} to reach ${bytes}`, async () => {
      if ((await restartLag(slot)) >= bytes) return true;
      await pg.query("INSERT INTO t SELECT g, repeat('x', 100) FROM generate_series(1, 1000) g");
      return undefined;
    });
  };
  const finding = (report: HealthReport, check: string) => report.findings.find((f) => f.check === check);

  beforeAll(async () => {
    pg = await startCluster({ settings: { max_slot_wal_keep_size: '1GB', wal_keep_size: 0, min_wal_size: '32MB', max_wal_size: '64MB' } });
    await pg.query('CREATE TABLE t (id int, pad text)');
    await pg.query("SELECT pg_create_logical_replication_slot('s', 'pgoutput')");
    chainDir = mkdtempSync(join(tmpdir(), 'pgincr-health-'));
    const now = new Date().toISOString();
    let catalog = emptyCatalog('7312000000000000000', 'postgres');
    catalog = addBase(catalog, {
      id: '20261127T140000Z_0000000001000000',
      dir: 'base/20261127T140000Z_0000000001000000',
      lsn: '0/1000000',
      takenAt: now,
      format: 'plain',
      bytes: 100,
      checksumsFile: 'base/20261127T140000Z_0000000001000000/checksums.json',
    });
    catalog = addSegment(catalog, {
      file: 'segments/2026-11-27/0000000001000000_0000000001000100.sql',
      startLsn: '0/1000000',
      endLsn: '0/1000100',
      firstCommitTime: now,
      lastCommitTime: now,
      transactions: 1,
      changes: 1,
      bytes: 10,
      sha256: 'a'.repeat(64),
      compressed: false,
    });
    catalog = addVerification(catalog, { at: now, fromBase: '20261127T140000Z_0000000001000000', toLsn: '0/1000100', ok: true });
    await saveCatalog(chainDir, catalog);
    options = (slot, extra = {}) => ({ profile: pg.profile(), slot, chainDir, alerts, maxBaseAgeMs: 86_400_000, ...extra });
  });

  afterAll(async () => {
    await pg?.stop();
    if (chainDir) rmSync(chainDir, { recursive: true, force: true });
  });

  it('goes OK → WARNING → CRITICAL as the lag grows, and back to OK after advancing the slot', async () => {
    const ok = await runHealthCheck(options('s'));
    expect(ok.findings.filter((f) => f.severity !== 'ok')).toEqual([]);
    expect(ok.status).toBe('ok');
    expect(ok.exitCode).toBe(0);
    expect(finding(ok, 'slot.wal_status')?.message).toBe('replication slot s wal_status reserved');
    expect(finding(ok, 'server.max_slot_wal_keep_size')?.value).toBe(1024 * MiB);
    expect(formatNagios(ok)[0]).toMatch(/^PGINCR OK - slot s healthy, restart lag .* \| restart_lag=\d+B;262144;4194304;0 /);

    await growLagTo('s', 256 * KiB);
    const warning = await runHealthCheck(options('s'));
    expect(finding(warning, 'slot.restart_lag')?.value).toBeLessThan(4 * MiB);
    expect([warning.status, warning.exitCode]).toEqual(['warning', 1]);

    await growLagTo('s', 4 * MiB);
    const critical = await runHealthCheck(options('s'));
    expect([critical.status, critical.exitCode]).toEqual(['critical', 2]);
    expect(finding(critical, 'slot.restart_lag')?.severity).toBe('critical');
    expect(formatNagios(critical)[0]).toMatch(/^PGINCR CRITICAL - slot s keeps [\d.]+ MiB of WAL on the source \(critical at 4\.0 MiB\)/);

    // The state file remembers since when confirmed_flush_lsn has not moved: a day later it is an emergency.
    const state = JSON.parse(readFileSync(join(chainDir, 'monitor', 'state.json'), 'utf8'));
    expect(state.slots.s.confirmedFlushLsn).toBe(critical.observations.slot?.confirmedFlushLsn);
    const dayLater = await runHealthCheck(options('s', { now: () => Date.now() + 25 * 3_600_000 }));
    expect(dayLater.status).toBe('emergency');
    expect(finding(dayLater, 'slot.progress')?.severity).toBe('emergency');

    await expect(advanceSlot(pg.profile(), 's', 'current', { confirm: 'S' })).rejects.toThrow(/refusing to advance replication slot s/);
    const back = await pollUntil('the slot to be healthy after advancing', async () => {
      await pg.query('CHECKPOINT');
      await advanceSlot(pg.profile(), 's', 'current', { confirm: 's' });
      const report = await runHealthCheck(options('s'));
      return report.status === 'ok' ? report : undefined;
    });
    expect(back.exitCode).toBe(0);
    expect(finding(back, 'slot.restart_lag')?.value).toBeLessThan(256 * KiB);
  });

  it('serves the values on /metrics', async () => {
    await growLagTo('s', 300 * KiB);
    const report = await runHealthCheck(options('s'));
    const metrics = createMetrics();
    updateFromHealth(metrics, report);
    metrics.captureTransactionsTotal.inc({ slot: 's' }, 3);
    const server = await startMetricsServer(0, metrics.registry, '127.0.0.1');
    try {
      const res = await fetch(`http://127.0.0.1:${server.port}/metrics`);
      expect(res.status).toBe(200);
      const text = await res.text();
      expect(text).toContain(`pgincr_slot_restart_lag_bytes{slot="s"} ${report.observations.slot!.restartLagBytes}`);
      expect(text).toContain(`pgincr_slot_confirmed_flush_lag_bytes{slot="s"} ${report.observations.slot!.confirmedFlushLagBytes}`);
      expect(text).toContain('pgincr_slot_wal_status{slot="s",wal_status="reserved"} 1');
      expect(text).toContain('pgincr_slot_wal_status{slot="s",wal_status="lost"} 0');
      expect(text).toContain('pgincr_health_severity{slot="s"} 1');
      expect(text).toContain('pgincr_last_verify_ok{slot="s"} 1');
      expect(text).toContain('pgincr_capture_transactions_total{slot="s"} 3');
      expect((await fetch(`http://127.0.0.1:${server.port}/other`)).status).toBe(404);
    } finally {
      await server.close();
    }
  });

  it('calls the webhook, retrying after a failure, and logs at the severity', async () => {
    const received: { body: unknown; attempt: number }[] = [];
    let attempt = 0;
    // The handler answers even when reading or parsing fails (an async handler's rejection is
    // lost by the server: the hook would hang, and the test time out instead of failing).
    const hook: Server = createServer((req, res) => {
      const n = ++attempt;
      readBody(req)
        .then((text) => {
          received.push({ body: JSON.parse(text), attempt: n });
          res.writeHead(n === 1 ? 500 : 204).end();
        })
        .catch((error: unknown) => {
          received.push({ body: `unreadable: ${String(error)}`, attempt: n });
          res.writeHead(400).end();
        });
    });
    await new Promise<void>((resolve) => hook.listen(0, '127.0.0.1', resolve));
    try {
      const report = await runHealthCheck(options('s'));
      expect(report.status).toBe('warning');
      const { logger, events } = fakeLogger();
      const url = `http://127.0.0.1:${(hook.address() as AddressInfo).port}/alerts?token=secret`;
      const sent = emitReportAlerts(logger, report, { webhookUrl: url, backoffMs: 50 });
      expect(sent).toHaveLength(1);
      await expect(sent[0]!.delivered).resolves.toBe(true);
      expect(received).toHaveLength(2);
      expect(received[1]!.body).toMatchObject({ source: 'pgincr', slot: 's', check: 'slot.restart_lag', severity: 'warning' });
      expect(events).toEqual([
        expect.objectContaining({ level: 'warn', fields: expect.objectContaining({ event: 'pgincr.alert', check: 'slot.restart_lag' }) }),
      ]);
      expect(JSON.stringify(events)).not.toContain('secret');
    } finally {
      await new Promise((resolve) => hook.close(resolve));
    }
  });

  it('reports an invalidated slot as an emergency (exit 2), auto-drops it, then reports it missing', async () => {
    await pg.query("ALTER SYSTEM SET max_slot_wal_keep_size = '1MB'");
    await pg.query('SELECT pg_reload_conf()');
    await pg.query("SELECT pg_create_logical_replication_slot('doomed', 'pgoutput')");
    await pollUntil('slot doomed to be lost', async () => {
      await pg.query("INSERT INTO t VALUES (0, 'x')");
      await pg.query('SELECT pg_switch_wal()');
      await pg.query('CHECKPOINT');
      const [row] = await pg.query<{ wal_status: string }>("SELECT wal_status FROM pg_replication_slots WHERE slot_name = 'doomed'");
      return row?.wal_status === 'lost' ? true : undefined;
    });
    const lost = await runHealthCheck(options('doomed'));
    expect([lost.status, lost.exitCode]).toEqual(['emergency', 2]);
    const nagios = formatNagios(lost);
    expect(nagios[0]).toMatch(/^PGINCR CRITICAL - EMERGENCY: replication slot doomed is invalidated \(wal_status lost\)/);
    expect(nagios.join('\n')).toContain('pgincr slot drop doomed --confirm doomed');

    const { logger, events } = fakeLogger();
    const off = await maybeAutoDrop(lost, { alerts, profile: pg.profile() }, logger);
    expect(off).toEqual({ dropped: false, reason: 'alerts.autoDropSlot is off' });
    await expect(dropSlot(pg.profile(), 'doomed', { confirm: undefined })).rejects.toThrow(/refusing to drop replication slot doomed/);
    const on = await maybeAutoDrop(lost, { alerts: { ...alerts, autoDropSlot: true }, profile: pg.profile() }, logger);
    expect(on.dropped).toBe(true);
    expect(events.some((e) => e.level === 'fatal' && /pgincr setup --new-chain/.test(e.msg))).toBe(true);
    expect(await pg.query("SELECT 1 FROM pg_replication_slots WHERE slot_name = 'doomed'")).toEqual([]);

    const missing = await runHealthCheck(options('doomed'));
    expect(missing.status).toBe('emergency');
    expect(finding(missing, 'slot')?.message).toBe('replication slot doomed does not exist: the backup chain is broken');
  });

  it('drops a slot held by a running consumer (terminating it) only with --confirm', async () => {
    await pg.query('CREATE PUBLICATION p FOR ALL TABLES');
    await pg.query("SELECT pg_create_logical_replication_slot('held', 'pgoutput')");
    const child = spawn(
      join(PG_BIN, 'pg_recvlogical'),
      ['-d', 'postgres', '--slot', 'held', '--start', '-f', '/dev/null', '-o', 'proto_version=1', '-o', 'publication_names=p', '--no-loop'],
      { env: { ...process.env, ...pg.env() }, stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    let exitCode: number | null | undefined;
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve((exitCode = code))));
    try {
      await pollUntil(
        'slot held to be active',
        async () => {
          if (exitCode !== undefined) throw new Error(`pg_recvlogical exited with ${exitCode}: ${stderr}`);
          const [row] = await pg.query<{ active: boolean }>("SELECT active FROM pg_replication_slots WHERE slot_name = 'held'");
          return row?.active ? true : undefined;
        },
        20_000,
      );
      await expect(dropSlot(pg.profile(), 'held', { confirm: 'doomed' })).rejects.toThrow(/refusing to drop replication slot held/);
      expect(await dropSlot(pg.profile(), 'held', { confirm: 'held' })).toEqual({ dropped: true });
      expect(await pg.query("SELECT 1 FROM pg_replication_slots WHERE slot_name = 'held'")).toEqual([]);
      expect(await exited).not.toBe(0);
      expect(await dropSlot(pg.profile(), 'held', { confirm: 'held' })).toEqual({ dropped: false });
    } finally {
      child.kill();
    }
  });

  it('reports UNKNOWN (exit 3) when the database is down', async () => {
    pg.stopServer('fast');
    const report = await runHealthCheck(options('s', { connectTimeoutMs: 3000 }));
    expect([report.status, report.exitCode]).toEqual(['unknown', 3]);
    expect(finding(report, 'database')?.message).toMatch(/^cannot query the source database: .*(ECONNREFUSED|ENOENT|connect)/);
    expect(finding(report, 'backup.full')?.severity).toBe('ok');
    expect(formatNagios(report)[0]).toMatch(/^PGINCR UNKNOWN - cannot query the source database/);
  });
});
