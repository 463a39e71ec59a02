import { evaluateHealth, formatNagios, type HealthThresholds } from '../../../src/core/monitor/health';

const NOW = Date.parse('2026-12-06T12:00:00Z');
const thresholds: HealthThresholds = {
  restartLagWarningBytes: 256,
  restartLagCriticalBytes: 1024,
  restartLagEmergencyBytes: 4096,
  noProgressEmergencyMs: 86_400_000,
  repositoryDiskWarningPercent: 80,
  upload: { uploadLagWarningMs: 300_000, uploadLagCriticalMs: 900_000, uploadFailuresWarning: 1, uploadFailuresCritical: 5 },
};
const report = (upload: Parameters<typeof evaluateHealth>[0]['upload'], extra: Partial<Parameters<typeof evaluateHealth>[0]> = {}) =>
  evaluateHealth({ slotName: 'pgincr', database: { reachable: true }, ...(upload ? { upload } : {}), ...extra }, thresholds, NOW);

describe('upload lag and failed uploads (S3 repository)', () => {
  it('is OK while the bucket holds everything durable, or the lag is below the warning', () => {
    expect(report({ pendingSinceMs: null, failures: 0 }).status).toBe('ok');
    const r = report({ pendingSinceMs: NOW - 42_000, pendingIn: 'the open segment', failures: 0 });
    expect(r.status).toBe('ok');
    expect(r.findings.find((f) => f.check === 'upload.lag')).toMatchObject({ severity: 'ok', value: 42 });
    expect(formatNagios(r)[0]).toContain('upload_lag=42s;300;900;0 upload_failures=0;1;5;0');
  });

  it('warns, then is CRITICAL, naming where the oldest pending transaction is and the last error', () => {
    const warn = report({ pendingSinceMs: NOW - 6 * 60_000, pendingIn: 'segments/2026-12-06/A_B.sql.gz', failures: 1, lastError: 'connect ECONNREFUSED' });
    expect(warn.status).toBe('warning');
    const crit = report({
      pendingSinceMs: NOW - 16 * 60_000,
      pendingIn: 'segments/2026-12-06/A_B.sql.gz',
      failures: 5,
      failingSinceMs: NOW - 60_000,
      lastError: 'connect ECONNREFUSED',
    });
    expect(crit.status).toBe('critical');
    const first = formatNagios(crit)[0]!;
    expect(first).toMatch(/^PGINCR CRITICAL - upload lag 16m 0s: the oldest transaction not yet in the bucket \(in segments\/2026-12-06\/A_B.sql.gz\)/);
    expect(first).toContain('5 upload(s) failed in a row since 1m 0s ago: connect ECONNREFUSED');
    expect(first).toMatch(/\| upload_lag=960s;300;900;0 upload_failures=5;1;5;0$/);
  });

  it('keeps the Nagios status line one line with the perfdata at its end, whatever a message quotes', () => {
    const r = report({ pendingSinceMs: NOW - 16 * 60_000, failures: 2, lastError: 'a | b' }, { catalogError: 'download failed\nhint: check | the endpoint' });
    const [first] = formatNagios(r);
    expect(first!.split(' | ')).toHaveLength(2);
    expect(first).toMatch(/ \| upload_lag=960s;300;900;0 upload_failures=2;1;5;0$/);
    expect(formatNagios(r).some((l) => l.startsWith('hint: check'))).toBe(false);
  });

  it('reports nothing about uploads without an object store', () => {
    expect(report(undefined).findings.some((f) => f.check.startsWith('upload'))).toBe(false);
    expect(formatNagios(report(undefined))[0]).not.toContain('upload_lag');
  });
});
