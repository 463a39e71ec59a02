/**
 * A stuck capture: the failure record in the repository (kept while the durable position does
 * not move, cleared by progress), the `capture.failing` finding (OK while retrying, CRITICAL
 * after `captureFailingCritical` or at once for a failure a retry cannot fix), and the webhook:
 * one alert per incident and one on recovery, not one per check.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { clearCaptureFailure, loadCaptureFailure, recordCaptureFailure, unrecordedFailure } from '../../../src/monitor/capture-failures';
import { captureFailureFindings, describeReach, type CaptureFailureFacts } from '../../../src/core/monitor/capture-failure';
import { evaluateHealth, formatNagios, type HealthThresholds } from '../../../src/core/monitor/health';
import { emitIncidentAlerts, emitReportAlerts, type AlertPayload, type OpenIncident } from '../../../src/monitor/alerts';
import { SlotMissingError } from '../../../src/errors';

const T0 = Date.parse('2026-12-06T09:00:00Z');
const thresholds: HealthThresholds = {
  restartLagWarningBytes: 1,
  restartLagCriticalBytes: 2,
  restartLagEmergencyBytes: 3,
  noProgressEmergencyMs: 86_400_000,
  repositoryDiskWarningPercent: 80,
  captureFailingCriticalMs: 120_000,
};
const refused = () => Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5999'), { code: 'ECONNREFUSED' });

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'pgincr-capfail-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('the capture failure record', () => {
  it('keeps the start of the failures while the durable LSN does not move, restarts it after progress, clears on progress', async () => {
    await recordCaptureFailure(dir, 'pgincr', refused(), { durableLsn: '0/3000000', attempt: 1, nowMs: T0 });
    const again = await recordCaptureFailure(dir, 'pgincr', refused(), { durableLsn: '0/3000000', attempt: 2, nowMs: T0 + 2000 });
    expect(again).toMatchObject({
      since: new Date(T0).toISOString(),
      lastAt: new Date(T0 + 2000).toISOString(),
      failures: 2,
      attempt: 2,
      errorType: 'Error',
      message: 'connect ECONNREFUSED 127.0.0.1:5999',
      transient: true,
      nonRetryable: false,
      durableLsn: '0/3000000',
    });
    const moved = await recordCaptureFailure(dir, 'pgincr', refused(), { durableLsn: '0/3000100', nowMs: T0 + 5000 });
    expect(moved).toMatchObject({ since: new Date(T0 + 5000).toISOString(), failures: 1 });
    expect(await loadCaptureFailure(dir, 'other')).toBeNull();
    expect(await clearCaptureFailure(dir, 'pgincr')).toMatchObject({ failures: 1 });
    expect(await loadCaptureFailure(dir, 'pgincr')).toBeNull();
    expect(await clearCaptureFailure(dir, 'pgincr')).toBeNull();
  });

  it('records the type, first line and SQLSTATE of a permanent failure, not its hint', async () => {
    const error = new SlotMissingError('replication slot is missing: slot pgincr: replication slot "pgincr" does not exist (SQLSTATE 42704)', {
      hint: 'run pgincr setup --new-chain',
      cause: Object.assign(new Error('replication slot "pgincr" does not exist'), { code: '42704' }),
    });
    const f = await recordCaptureFailure(dir, 'pgincr', error, { nowMs: T0 });
    expect(f).toMatchObject({
      errorType: 'SlotMissingError',
      sqlstate: '42704',
      nonRetryable: true,
      transient: false,
      message: 'replication slot is missing: slot pgincr: replication slot "pgincr" does not exist (SQLSTATE 42704)',
    });
  });

  it('an attempt after one that failed unrecorded (heartbeat timeout: the worker died) records that failure', async () => {
    expect(unrecordedFailure(1, null)).toBeNull();
    const recorded = await recordCaptureFailure(dir, 'pgincr', refused(), { durableLsn: '0/3000000', attempt: 3, nowMs: T0 });
    expect(unrecordedFailure(4, recorded)).toBeNull();
    const missed = unrecordedFailure(5, recorded)!;
    expect([missed.name, missed.message]).toEqual([
      'ActivityTimeout',
      'capture attempt 4 ended without reporting a result (heartbeat timeout: its worker died or hung)',
    ]);
    expect(unrecordedFailure(2, null)?.name).toBe('ActivityTimeout');
    const f = await recordCaptureFailure(dir, 'pgincr', missed, { durableLsn: '0/3000000', attempt: 4, nowMs: T0 + 30_000 });
    expect(f).toMatchObject({ errorType: 'ActivityTimeout', since: new Date(T0).toISOString(), failures: 2, attempt: 4 });
  });
});

describe('the capture.failing finding', () => {
  const failing = (over: Partial<CaptureFailureFacts> = {}): CaptureFailureFacts => ({
    errorType: 'Error',
    message: 'connect ECONNREFUSED 127.0.0.1:5999',
    nonRetryable: false,
    transient: true,
    since: new Date(T0).toISOString(),
    lastAt: new Date(T0 + 60_000).toISOString(),
    failures: 6,
    durableLsn: '0/3000000',
    ...over,
  });

  it('is OK while retrying, CRITICAL once failing for captureFailingCritical, naming the last failure', () => {
    expect(captureFailureFindings(null, undefined, 120_000, T0)).toEqual([
      { check: 'capture.failing', severity: 'ok', message: 'no capture failure since the last progress', value: 0 },
    ]);
    expect(captureFailureFindings(undefined, undefined, 120_000, T0)).toEqual([]);
    // Temporal keeps an attempt's last failure while the next attempt runs: the record (none) wins.
    const retried = { attempt: 6, lastFailure: { type: 'Error', message: 'connect ECONNREFUSED' } };
    expect(captureFailureFindings(null, retried, 120_000, T0)[0]).toMatchObject({ severity: 'ok', message: 'no capture failure since the last progress' });
    expect(captureFailureFindings(undefined, retried, 120_000, T0)[0]).toMatchObject({
      severity: 'ok',
      message: 'capture activity on attempt 6 after Error: connect ECONNREFUSED',
    });
    const early = captureFailureFindings(failing(), { attempt: 7 }, 120_000, T0 + 119_000)[0]!;
    expect(early).toMatchObject({ severity: 'ok', value: 119 });
    expect(early.message).toBe(
      'capture retrying after 1m 59s (6 failed attempts, attempt 7): last failure Error: connect ECONNREFUSED 127.0.0.1:5999; critical after 2m 0s',
    );
    const late = captureFailureFindings(failing(), { attempt: 8 }, 120_000, T0 + 120_000)[0]!;
    expect(late).toMatchObject({ severity: 'critical', value: 120 });
    expect(late.message).toBe(
      'capture has made no progress at 0/3000000 for 2m 0s (6 failed attempts, attempt 8): last failure Error: connect ECONNREFUSED 127.0.0.1:5999',
    );
    expect(late.hint).toMatch(/source is unreachable/);
  });

  it('is CRITICAL at once for a failure a retry cannot fix', () => {
    const [f] = captureFailureFindings(
      failing({ errorType: 'SlotMissingError', message: 'replication slot is missing: slot s', sqlstate: '42704', nonRetryable: true, transient: false }),
      undefined,
      120_000,
      T0 + 1000,
    );
    expect(f).toMatchObject({
      severity: 'critical',
      message: 'capture stopped at 0/3000000 on an error a retry cannot fix: SlotMissingError: replication slot is missing: slot s (SQLSTATE 42704)',
    });
  });

  it('makes `check --nagios` CRITICAL with the failure in the status line', () => {
    const report = evaluateHealth(
      { slotName: 'pgincr', database: { reachable: false, error: 'connect ECONNREFUSED' }, captureFailure: failing() },
      thresholds,
      T0 + 180_000,
    );
    expect(report.exitCode).toBe(2);
    expect(formatNagios(report)[0]).toMatch(
      /^PGINCR CRITICAL - .*capture has made no progress at 0\/3000000 for 3m 0s \(6 failed attempts\): last failure Error: connect ECONNREFUSED/,
    );
  });
});

describe('what a restore to latest could not include', () => {
  it('a running capture: the chain end and the WAL in the open segment', () => {
    expect(
      describeReach({
        lsn: '0/3000060',
        commitTime: '2026-12-06 09:00:00.000001+00',
        capture: 'running',
        captureDetail: 'capture workflow w is running',
        sourceWalLsn: '0/3001060',
        behindBytes: 4096,
        behind: true,
      }),
    ).toEqual([
      'chain reaches 0/3000060 (last commit 2026-12-06 09:00:00.000001+00): this restore includes nothing after it',
      'capture workflow w is running',
      "the source's WAL was at 0/3001060, 4.0 KiB past the chain's end: transactions committed there are not in this restore (they are in the open segment; `pgincr capture rotate` seals it)",
    ]);
  });

  it('a paused capture is a warning line that says paused, and the WAL past the end is not in the open segment', () => {
    expect(
      describeReach({
        lsn: '0/3000060',
        commitTime: null,
        capture: 'paused',
        captureDetail: 'capture workflow w is paused (`pgincr capture resume` resumes it)',
        sourceWalLsn: '0/3001060',
        behindBytes: 4096,
        behind: true,
      }),
    ).toEqual([
      'chain reaches 0/3000060: this restore includes nothing after it',
      'WARNING: capture workflow w is paused (`pgincr capture resume` resumes it): changes made on the source since are not in any segment yet',
      "the source's WAL was at 0/3001060, 4.0 KiB past the chain's end: transactions committed there are not in this restore (the capture is paused: `pgincr capture resume` captures them)",
    ]);
  });

  it('a failing capture is a warning line', () => {
    const lines = describeReach({
      lsn: '0/3000060',
      commitTime: null,
      capture: 'failing',
      captureDetail: 'capture failing since 2026-12-06T09:00:00.000Z (3 failed attempts): Error: connect ECONNREFUSED',
      behind: true,
    });
    expect(lines).toEqual([
      'chain reaches 0/3000060: this restore includes nothing after it',
      'WARNING: capture failing since 2026-12-06T09:00:00.000Z (3 failed attempts): Error: connect ECONNREFUSED: changes made on the source since are not in any segment yet',
    ]);
  });
});

describe('webhook alerts for a stuck capture', () => {
  let server: Server;
  let url: string;
  const received: AlertPayload[] = [];
  beforeAll(async () => {
    server = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => {
        body += c.toString();
      });
      req.on('end', () => {
        received.push(JSON.parse(body) as AlertPayload);
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it('fires once when the incident begins and once when it is over, not at every check', async () => {
    const logger = { info: jest.fn(), warn: jest.fn(), error: jest.fn(), fatal: jest.fn() };
    const failure: CaptureFailureFacts = {
      errorType: 'Error',
      message: 'connect ECONNREFUSED 127.0.0.1:5999',
      nonRetryable: false,
      transient: true,
      since: new Date(T0).toISOString(),
      lastAt: new Date(T0).toISOString(),
      failures: 3,
    };
    let open: Record<string, OpenIncident> = {};
    const check = async (nowMs: number, captureFailure: CaptureFailureFacts | null) => {
      const report = evaluateHealth({ slotName: 'pgincr', database: { reachable: false, error: 'down' }, captureFailure }, thresholds, nowMs);
      const others = emitReportAlerts(logger, report, { webhookUrl: url });
      const incidents = emitIncidentAlerts(logger, report, open, { webhookUrl: url });
      open = incidents.open;
      await Promise.all([...others, ...incidents.emitted].map((a) => a.delivered));
      return received.filter((p) => p.check === 'capture.failing');
    };
    expect(await check(T0 + 60_000, failure)).toEqual([]); // retrying, not yet critical
    expect(await check(T0 + 2 * 60_000, failure)).toHaveLength(1); // critical: the incident begins
    for (const minute of [3, 4, 5]) await check(T0 + minute * 60_000, failure);
    expect(await check(T0 + 6 * 60_000, failure)).toEqual([
      expect.objectContaining({
        event: 'alert',
        check: 'capture.failing',
        severity: 'critical',
        message: expect.stringContaining('last failure Error: connect ECONNREFUSED'),
      }),
    ]);
    await check(T0 + 7 * 60_000, null);
    const all = await check(T0 + 8 * 60_000, null);
    expect(all.map((p) => [p.event, p.severity])).toEqual([
      ['alert', 'critical'],
      ['recovered', 'ok'],
    ]);
    expect(all[1]!.message).toMatch(/^recovered after 300s: no capture failure since the last progress \(was: capture has made no progress/);
    expect(logger.error).toHaveBeenCalledTimes(1 + 8); // the incident once, plus the unreachable database at each of the 8 checks
  });
});
