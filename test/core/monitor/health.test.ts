import {
  evaluateHealth,
  exitCodeFor,
  formatBytes,
  formatDuration,
  formatHuman,
  formatNagios,
  type HealthObservations,
  type HealthThresholds,
  type SlotObservation,
} from '../../../src/core/monitor/health';

const MiB = 1024 ** 2;
const GiB = 1024 ** 3;
const HOUR = 3_600_000;
const NOW = Date.parse('2026-11-27T14:00:00Z');

const thresholds: HealthThresholds = {
  restartLagWarningBytes: 256 * MiB,
  restartLagCriticalBytes: GiB,
  restartLagEmergencyBytes: 10 * GiB,
  noProgressEmergencyMs: 24 * HOUR,
  repositoryDiskWarningPercent: 80,
  maxBaseAgeMs: 48 * HOUR,
  segmentAgeWarningMs: HOUR,
};

function slot(over: Partial<SlotObservation> = {}): SlotObservation {
  return {
    name: 'pgincr',
    plugin: 'pgoutput',
    database: 'app',
    active: true,
    activePid: 4242,
    walStatus: 'reserved',
    safeWalSizeBytes: 9 * GiB,
    currentLsn: '0/3000000',
    restartLsn: '0/2FFF000',
    confirmedFlushLsn: '0/2FFF800',
    restartLagBytes: 4096,
    confirmedFlushLagBytes: 2048,
    ...over,
  };
}

function healthy(over: Partial<HealthObservations> = {}): HealthObservations {
  return {
    slotName: 'pgincr',
    database: { reachable: true },
    slot: slot(),
    maxSlotWalKeepSizeBytes: 10 * GiB,
    lastFlushProgressAtMs: NOW - 60_000,
    catalog: { lastSegmentAtMs: NOW - 300_000, lastBaseAtMs: NOW - 20 * HOUR, lastVerify: { atMs: NOW - 10 * HOUR, ok: true } },
    repositoryDisk: { usedPercent: 42, totalBytes: 100 * GiB, freeBytes: 58 * GiB },
    captureRunning: true,
    ...over,
  };
}

const severityOf = (obs: HealthObservations, check: string, t = thresholds) => evaluateHealth(obs, t, NOW).findings.find((f) => f.check === check)?.severity;

describe('evaluateHealth', () => {
  it('is OK with exit code 0 when everything is healthy', () => {
    const report = evaluateHealth(healthy(), thresholds, NOW);
    expect(report.status).toBe('ok');
    expect(report.exitCode).toBe(0);
    expect(report.findings.every((f) => f.severity === 'ok')).toBe(true);
    expect(report.checkedAt).toBe('2026-11-27T14:00:00.000Z');
    expect(JSON.parse(JSON.stringify(report))).toEqual(report);
  });

  it.each([
    [256 * MiB - 1, 'ok'],
    [256 * MiB, 'warning'],
    [GiB - 1, 'warning'],
    [GiB, 'critical'],
    [10 * GiB - 1, 'critical'],
    [10 * GiB, 'emergency'],
  ] as const)('restart lag %d bytes is %s', (lag, expected) => {
    const obs = healthy({ slot: slot({ restartLagBytes: lag }) });
    expect(severityOf(obs, 'slot.restart_lag')).toBe(expected);
    expect(evaluateHealth(obs, thresholds, NOW).status).toBe(expected);
  });

  it.each([
    ['reserved', 'ok'],
    ['extended', 'ok'],
    ['unreserved', 'critical'],
    ['lost', 'emergency'],
  ] as const)('wal_status %s is %s', (walStatus, expected) => {
    const obs = healthy({ slot: slot({ walStatus, ...(walStatus === 'lost' ? { restartLsn: null, restartLagBytes: null } : {}) }) });
    expect(severityOf(obs, 'slot.wal_status')).toBe(expected);
  });

  it('a lost slot is an emergency with the procedure hint and no lag checks', () => {
    const obs = healthy({ slot: slot({ walStatus: 'lost', restartLsn: null, restartLagBytes: null, safeWalSizeBytes: null }) });
    const report = evaluateHealth(obs, thresholds, NOW);
    expect(report.status).toBe('emergency');
    expect(report.exitCode).toBe(2);
    const lost = report.findings.find((f) => f.check === 'slot.wal_status')!;
    expect(lost.message).toBe('replication slot pgincr is invalidated (wal_status lost): the backup chain is broken');
    expect(lost.hint).toContain('pgincr slot drop pgincr --confirm pgincr');
    expect(lost.hint).toContain('pgincr setup --new-chain');
    expect(report.findings.find((f) => f.check === 'slot.restart_lag')).toBeUndefined();
  });

  it('a missing slot is an emergency', () => {
    const report = evaluateHealth(healthy({ slot: null }), thresholds, NOW);
    expect(report.status).toBe('emergency');
    expect(report.findings.find((f) => f.check === 'slot')?.message).toBe('replication slot pgincr does not exist: the backup chain is broken');
  });

  it('an unreachable database is UNKNOWN with exit code 3', () => {
    const obs = healthy({ database: { reachable: false, error: 'connect ECONNREFUSED 127.0.0.1:5432' } });
    delete obs.slot;
    delete obs.maxSlotWalKeepSizeBytes;
    const report = evaluateHealth(obs, thresholds, NOW);
    expect(report.status).toBe('unknown');
    expect(report.exitCode).toBe(3);
    expect(report.findings[0]).toEqual({
      check: 'database',
      severity: 'unknown',
      message: 'cannot query the source database: connect ECONNREFUSED 127.0.0.1:5432',
    });
  });

  it('critical outranks unknown, unknown outranks warning', () => {
    const down = { database: { reachable: false as const, error: 'x' }, slot: undefined };
    expect(evaluateHealth(healthy({ ...down, captureRunning: false }), thresholds, NOW).status).toBe('critical');
    expect(
      evaluateHealth(
        healthy({ ...down, maxSlotWalKeepSizeBytes: undefined, catalog: { ...healthy().catalog!, lastBaseAtMs: NOW - 100 * HOUR } }),
        thresholds,
        NOW,
      ).status,
    ).toBe('unknown');
  });

  it('a FULL replica identity on a table with a key is a warning naming the table and the fix; absent when not observed', () => {
    const report = evaluateHealth(healthy({ fullIdentityWithKey: [{ table: '"public"."t"', index: null }] }), thresholds, NOW);
    expect(report.status).toBe('warning');
    expect(report.findings.find((f) => f.check === 'replica identity')).toMatchObject({
      severity: 'warning',
      value: 1,
      message: expect.stringContaining('"public"."t" (primary key)'),
      hint: expect.stringContaining('ALTER TABLE "public"."t" REPLICA IDENTITY DEFAULT;'),
    });
    expect(severityOf(healthy({ fullIdentityWithKey: [] }), 'replica identity')).toBe('ok');
    expect(severityOf(healthy(), 'replica identity')).toBeUndefined();
  });

  it('max_slot_wal_keep_size = -1 is a warning', () => {
    expect(severityOf(healthy({ maxSlotWalKeepSizeBytes: -1, slot: slot({ safeWalSizeBytes: null }) }), 'server.max_slot_wal_keep_size')).toBe('warning');
  });

  it.each([
    [GiB, 'ok'],
    [GiB - 1, 'warning'],
    [256 * MiB - 1, 'critical'],
    [-5, 'critical'],
  ] as const)('safe_wal_size %d is %s', (safe, expected) => {
    expect(severityOf(healthy({ slot: slot({ safeWalSizeBytes: safe }) }), 'slot.safe_wal_size')).toBe(expected);
  });

  it('no progress while behind: warning at a quarter, emergency at noProgressEmergency', () => {
    const at = (ms: number, lag = 2048) => healthy({ lastFlushProgressAtMs: NOW - ms, slot: slot({ confirmedFlushLagBytes: lag }) });
    expect(severityOf(at(6 * HOUR - 1), 'slot.progress')).toBe('ok');
    expect(severityOf(at(6 * HOUR), 'slot.progress')).toBe('warning');
    expect(severityOf(at(24 * HOUR - 1), 'slot.progress')).toBe('warning');
    expect(severityOf(at(24 * HOUR), 'slot.progress')).toBe('emergency');
    // an idle database with nothing to confirm is not stuck
    expect(severityOf(at(48 * HOUR, 0), 'slot.progress')).toBe('ok');
    expect(severityOf(at(2 * HOUR), 'slot.progress', { ...thresholds, noProgressWarningMs: HOUR })).toBe('warning');
  });

  it('capture workflow: not running is critical, unknown (Temporal unreachable) is informational, absent when not asked', () => {
    expect(severityOf(healthy({ captureRunning: false }), 'capture')).toBe('critical');
    expect(severityOf(healthy({ captureRunning: 'unknown' }), 'capture')).toBe('ok');
    const unknown = evaluateHealth(
      healthy({ captureRunning: 'unknown', captureWorkflow: { id: 'pgincr-capture-default-pgincr', error: 'connect ECONNREFUSED' } }),
      thresholds,
      NOW,
    );
    expect(unknown.status).toBe('ok');
    expect(unknown.findings.find((f) => f.check === 'capture')?.message).toBe(
      'capture workflow pgincr-capture-default-pgincr not checked: Temporal not reachable (connect ECONNREFUSED)',
    );
    const failed = evaluateHealth(healthy({ captureRunning: false, captureWorkflow: { id: 'w', status: 'FAILED' } }), thresholds, NOW);
    expect(failed.findings.find((f) => f.check === 'capture')?.message).toMatch(/^capture workflow w is not running \(FAILED\)/);
    expect(severityOf(healthy({ captureRunning: undefined }), 'capture')).toBeUndefined();
  });

  it('an inactive slot is a warning only when the capture claims to stream (not when it is paused)', () => {
    expect(severityOf(healthy({ slot: slot({ active: false, activePid: null }) }), 'slot.active')).toBe('warning');
    expect(severityOf(healthy({ captureRunning: undefined, slot: slot({ active: false, activePid: null }) }), 'slot.active')).toBe('ok');
    const paused = { captureWorkflow: { id: 'w', status: 'RUNNING', paused: true } };
    expect(severityOf(healthy({ ...paused, slot: slot({ active: false, activePid: null }) }), 'slot.active')).toBe('ok');
  });

  it('a paused capture is a warning that says paused and how to resume, never "running"', () => {
    const report = evaluateHealth(healthy({ captureRunning: true, captureWorkflow: { id: 'w', status: 'RUNNING', paused: true } }), thresholds, NOW);
    const finding = report.findings.find((f) => f.check === 'capture');
    expect(finding).toMatchObject({
      severity: 'warning',
      message: 'capture workflow w is paused: nothing is captured and the slot keeps WAL on the source until it resumes',
      hint: 'resume it with `pgincr capture resume`',
    });
    expect(report.status).toBe('warning');
  });

  it('full backup age against the allowed maximum; none at all is critical', () => {
    const base = (ms: number | null) => healthy({ catalog: { ...healthy().catalog!, lastBaseAtMs: ms === null ? null : NOW - ms } });
    expect(severityOf(base(48 * HOUR), 'backup.full')).toBe('ok');
    expect(severityOf(base(48 * HOUR + 1), 'backup.full')).toBe('warning');
    expect(severityOf(base(null), 'backup.full')).toBe('critical');
    expect(severityOf(base(1000 * HOUR), 'backup.full', { ...thresholds, maxBaseAgeMs: undefined })).toBe('ok');
  });

  it('a failed last verification is critical', () => {
    const obs = healthy({ catalog: { ...healthy().catalog!, lastVerify: { atMs: NOW - HOUR, ok: false, detail: '1 table differs' } } });
    const report = evaluateHealth(obs, thresholds, NOW);
    expect(report.status).toBe('critical');
    expect(report.findings.find((f) => f.check === 'verify')?.message).toBe('last verification failed 1h 0m ago: 1 table differs');
  });

  it('segment age warns only when over the limit and the capture is behind', () => {
    const seg = (ms: number, lag: number) =>
      healthy({ catalog: { ...healthy().catalog!, lastSegmentAtMs: NOW - ms }, slot: slot({ confirmedFlushLagBytes: lag }) });
    expect(severityOf(seg(HOUR + 1000, 1), 'segments.age')).toBe('warning');
    expect(severityOf(seg(HOUR + 1000, 0), 'segments.age')).toBe('ok');
    expect(severityOf(seg(HOUR - 1000, 1), 'segments.age')).toBe('ok');
  });

  it('repository disk over the threshold is a warning; a stat failure is unknown', () => {
    const disk = (usedPercent: number) => healthy({ repositoryDisk: { usedPercent, totalBytes: 100, freeBytes: 100 - usedPercent } });
    expect(severityOf(disk(80), 'repository.disk')).toBe('ok');
    expect(severityOf(disk(80.5), 'repository.disk')).toBe('warning');
    expect(severityOf(healthy({ repositoryDisk: { error: 'ENOENT' } }), 'repository.disk')).toBe('unknown');
  });

  it("a repository disk with no room for the capture's next write is critical and names ENOSPC (issue 18, disk full)", () => {
    const full = healthy({ repositoryDisk: { usedPercent: 100, totalBytes: 48 * 1024 * 1024, freeBytes: 4096 } });
    const report = evaluateHealth(full, thresholds, NOW);
    expect(severityOf(full, 'repository.disk')).toBe('critical');
    expect(report.exitCode).toBe(2);
    expect(formatNagios(report).join('\n')).toMatch(/repository disk full \(ENOSPC\): 4\.0 KiB free/);
    // 1 MiB free on a large disk is still full; 2 MiB is a warning by percentage only.
    const big = (freeBytes: number) => healthy({ repositoryDisk: { usedPercent: 99.9, totalBytes: 1024 * GiB, freeBytes } });
    expect(severityOf(big(1024 * 1024 - 1), 'repository.disk')).toBe('critical');
    expect(severityOf(big(2 * 1024 * 1024), 'repository.disk')).toBe('warning');
  });

  it('a catalog that cannot be read is a warning', () => {
    expect(severityOf(healthy({ catalog: undefined, catalogError: 'no catalog at /r/catalog/catalog.json' }), 'catalog')).toBe('warning');
  });

  it('maps severities to Nagios exit codes', () => {
    expect([exitCodeFor('ok'), exitCodeFor('warning'), exitCodeFor('critical'), exitCodeFor('emergency'), exitCodeFor('unknown')]).toEqual([0, 1, 2, 2, 3]);
  });
});

describe('formatting', () => {
  it('formats bytes and durations', () => {
    expect([formatBytes(0), formatBytes(512), formatBytes(1536), formatBytes(10 * GiB), formatBytes(-2048)]).toEqual([
      '0 B',
      '512 B',
      '1.5 KiB',
      '10.0 GiB',
      '-2.0 KiB',
    ]);
    expect([formatDuration(42_000), formatDuration(303_000), formatDuration(26 * HOUR), formatDuration(76 * HOUR)]).toEqual([
      '42s',
      '5m 3s',
      '26h 0m',
      '3d 4h',
    ]);
  });

  it('Nagios: OK line with perfdata', () => {
    const lines = formatNagios(evaluateHealth(healthy(), thresholds, NOW));
    expect(lines).toEqual([
      'PGINCR OK - slot pgincr healthy, restart lag 4.0 KiB | restart_lag=4096B;268435456;1073741824;0 confirmed_flush_lag=2048B;;;0 ' +
        'safe_wal_size=9663676416B no_progress=60s;;86400;0 segment_age=300s;;;0 full_backup_age=72000s;172800;;0 repository_disk=42%;80;;0;100',
    ]);
  });

  it('Nagios: problems worst first, emergency shown as CRITICAL with hints', () => {
    const obs = healthy({ slot: slot({ restartLagBytes: 11 * GiB }), repositoryDisk: { usedPercent: 91, totalBytes: 100, freeBytes: 9 } });
    const report = evaluateHealth(obs, thresholds, NOW);
    expect(report.exitCode).toBe(2);
    const lines = formatNagios(report);
    expect(lines[0]).toMatch(
      /^PGINCR CRITICAL - EMERGENCY: slot pgincr keeps 11\.0 GiB of WAL on the source \(emergency at 10\.0 GiB\); repository disk 91\.0% used, 9 B free \(over 80%\) \| restart_lag=11811160064B;/,
    );
    expect(lines[1]).toBe('EMERGENCY slot.restart_lag: slot pgincr keeps 11.0 GiB of WAL on the source (emergency at 10.0 GiB)');
    expect(lines[2]).toMatch(/^ {2}hint: EMERGENCY PROCEDURE \(docs\/monitoring\.md\)/);
    expect(lines[3]).toBe('WARNING repository.disk: repository disk 91.0% used, 9 B free (over 80%)');
  });

  it('Nagios: the emergency procedure hint is printed once', () => {
    const obs = healthy({ slot: slot({ restartLagBytes: 11 * GiB, confirmedFlushLagBytes: 11 * GiB }), lastFlushProgressAtMs: NOW - 25 * HOUR });
    const lines = formatNagios(evaluateHealth(obs, thresholds, NOW));
    expect(lines.filter((l) => l.startsWith('EMERGENCY '))).toHaveLength(2);
    expect(lines.filter((l) => l.includes('EMERGENCY PROCEDURE'))).toHaveLength(1);
  });

  it('Nagios: UNKNOWN when the database is down', () => {
    const obs: HealthObservations = { slotName: 'pgincr', database: { reachable: false, error: 'timeout' } };
    expect(formatNagios(evaluateHealth(obs, thresholds, NOW))).toEqual([
      'PGINCR UNKNOWN - cannot query the source database: timeout',
      'UNKNOWN database: cannot query the source database: timeout',
    ]);
  });

  it('human: one line per check', () => {
    const obs = healthy({ captureRunning: false });
    const lines = formatHuman(evaluateHealth(obs, thresholds, NOW));
    expect(lines[0]).toBe('pgincr check: CRITICAL (exit 2)  slot pgincr  at 2026-11-27T14:00:00.000Z');
    expect(lines).toContain('  OK        slot.wal_status                replication slot pgincr wal_status reserved');
    expect(lines).toContain('  CRITICAL  capture                        capture workflow is not running: the slot keeps WAL on the source until it resumes');
    expect(lines).toContain(
      '                                           hint: start it with `pgincr capture start`; if it failed on a lost or missing slot, run `pgincr setup --new-chain`',
    );
  });
});

describe('two repositories: the copy against the local repository', () => {
  const finding = (repositoryCopy: HealthObservations['repositoryCopy']) =>
    evaluateHealth(healthy({ repositoryCopy }), thresholds, NOW).findings.find((f) => f.check === 'repository.copy');

  it('is silent with one repository, ok when equal, a warning naming what is only in one or of another size', () => {
    expect(finding(undefined)).toBeUndefined();
    const copy = 's3://b/p/1-app';
    expect(finding({ copy, onlyLocal: [], onlyInCopy: [], different: [] })).toMatchObject({ severity: 'ok' });
    const diverged = finding({
      copy,
      onlyLocal: ['segments/d/1_2.sql.gz'],
      onlyInCopy: ['a', 'b', 'c', 'd', 'e'],
      different: ['base/x/metadata.json'],
    });
    expect(diverged).toMatchObject({ severity: 'warning', value: 7 });
    expect(diverged?.message).toBe(
      'the repository copy s3://b/p/1-app diverges from the local repository: 1 file(s) only in the local repository (segments/d/1_2.sql.gz); ' +
        '5 file(s) only in the copy (a, b, c and 2 more); 1 file(s) of another size in each (base/x/metadata.json)',
    );
    expect(finding({ copy, error: 'connect ECONNREFUSED' })).toMatchObject({
      severity: 'warning',
      message: `cannot compare the repository copy ${copy}: connect ECONNREFUSED`,
    });
  });
});
