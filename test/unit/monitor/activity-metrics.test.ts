import { createServer } from 'node:net';
import { createMetrics } from '../../../src/monitor/metrics';
import { captureRecorder, recordFullBackup, recordRestoreProgress, recordVerification } from '../../../src/monitor/activity-metrics';
import { probeTcp } from '../../../src/monitor/capture-state';

const value = async (m: ReturnType<typeof createMetrics>, name: string, labels: Record<string, string>) => {
  const metric = (await m.registry.getMetricsAsJSON()).find((x) => x.name === name);
  return (metric?.values as { labels: Record<string, string>; value: number }[] | undefined)?.find((v) =>
    Object.entries(labels).every(([k, l]) => v.labels[k] === l),
  )?.value;
};

describe('activity metrics', () => {
  it('counts a capture run by the differences between its cumulative heartbeats, changes at the end', async () => {
    const m = createMetrics();
    const first = captureRecorder(m, 's');
    first.heartbeat({ lastDurableLsn: '0/100', segment: 'a', txns: 2, bytes: 50 });
    first.heartbeat({ lastDurableLsn: '0/200', segment: 'a', txns: 5, bytes: 80 });
    first.finished({ lastDurableLsn: '0/300', transactions: 6, bytes: 90, changes: 11 });
    // A second run (a retry) starts its own counts from zero: they add up, not overwrite.
    const second = captureRecorder(m, 's');
    second.heartbeat({ lastDurableLsn: '0/400', segment: 'b', txns: 1, bytes: 10 });
    second.finished({ lastDurableLsn: '0/400', transactions: 1, bytes: 10, changes: 1 });
    expect(await value(m, 'pgincr_capture_transactions_total', { slot: 's' })).toBe(7);
    expect(await value(m, 'pgincr_capture_bytes_total', { slot: 's' })).toBe(100);
    expect(await value(m, 'pgincr_capture_changes_total', { slot: 's' })).toBe(12);
    expect(await value(m, 'pgincr_capture_lsn', { slot: 's' })).toBe(0x400);
  });

  it('is a no-op without metrics', () => {
    expect(() => captureRecorder(undefined, 's').finished({ lastDurableLsn: '0/1', transactions: 1, bytes: 1, changes: 1 })).not.toThrow();
    expect(() => recordRestoreProgress(undefined, 'db', { appliedTransactions: 1, lastEndLsn: null })).not.toThrow();
  });

  it('records restore progress, full backups and verifications', async () => {
    const m = createMetrics();
    recordRestoreProgress(m, 'restored', { appliedTransactions: 3, lastEndLsn: '1/0' });
    recordFullBackup(m, 's', 5000);
    recordVerification(m, 's', false, 7000);
    expect(await value(m, 'pgincr_restore_progress_transactions', { restore: 'restored' })).toBe(3);
    expect(await value(m, 'pgincr_restore_progress_lsn', { restore: 'restored' })).toBe(2 ** 32);
    expect(await value(m, 'pgincr_last_full_backup_timestamp_seconds', { slot: 's' })).toBe(5);
    expect(await value(m, 'pgincr_last_verify_timestamp_seconds', { slot: 's' })).toBe(7);
    expect(await value(m, 'pgincr_last_verify_ok', { slot: 's' })).toBe(0);
  });
});

describe('probeTcp', () => {
  it('resolves for a listening port and rejects for a closed one or a bad address', async () => {
    const server = createServer((s) => s.end());
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as { port: number }).port;
    await expect(probeTcp(`127.0.0.1:${port}`, 2000)).resolves.toBeUndefined();
    await new Promise((r) => server.close(r));
    await expect(probeTcp(`127.0.0.1:${port}`, 2000)).rejects.toThrow(/ECONNREFUSED/);
    await expect(probeTcp('no-port', 2000)).rejects.toThrow(/cannot parse temporal.address no-port/);
  });
});
