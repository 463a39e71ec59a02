/**
 * `pgincr capture stop` waits for the capture to end (its last segment sealed, and with a bucket
 * uploaded) — a restore may follow at once, and one that followed a bare signal missed the last
 * segment (test/integration/s3/s3-repository.test.ts drives the whole case). When nothing ends the
 * workflow (no worker on its task queue) it says so within --timeout instead of hanging; --no-wait
 * only signals.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { temporalAddress, TEST_NAMESPACE } from '../../helpers/temporal';
import { workflowIds } from '../../../src/workflows/ids';

jest.setTimeout(120_000);

const ROOT = resolve(__dirname, '../../..');

function cli(configFile: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const env = { ...process.env };
  delete env.TEMPORAL_ADDRESS;
  return new Promise((done) => {
    execFile(join(ROOT, 'bin/pgincr'), ['--config', configFile, ...args], { cwd: ROOT, env, timeout: 60_000 }, (err, stdout, stderr) =>
      done({ code: err ? ((err as { code?: number }).code ?? -1) : 0, stdout, stderr }),
    );
  });
}

it('capture stop with no worker to end the capture: exit 1 within --timeout naming the task queue; --no-wait only signals', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pgincr-capture-stop-'));
  const suffix = Math.random().toString(36).slice(2, 8);
  const profile = `stop_${suffix}`;
  const taskQueue = `nobody-polls-${suffix}`;
  const configFile = join(dir, 'pgincr.json');
  writeFileSync(
    configFile,
    JSON.stringify({
      repository: join(dir, 'repository'),
      profiles: { [profile]: { host: '/nonexistent', dbname: 'app' } },
      defaultProfile: profile,
      temporal: { address: temporalAddress(), namespace: TEST_NAMESPACE, taskQueue },
    }),
  );
  const connection = await Connection.connect({ address: temporalAddress() });
  const client = new Client({ connection, namespace: TEST_NAMESPACE });
  const workflowId = workflowIds.capture(profile, 'pgincr');
  const handle = await client.workflow.start('captureWorkflow', { taskQueue, workflowId, args: [{ profile }] });
  try {
    const started = Date.now();
    const waited = await cli(configFile, ['capture', 'stop', '--timeout', '2']);
    expect({ code: waited.code, stdout: waited.stdout }).toEqual({
      code: 1,
      stdout: expect.stringContaining(`but the capture has not ended after 2 s: is a worker running on task queue ${taskQueue}?`),
    });
    expect(Date.now() - started).toBeLessThan(30_000);
    // The stop stays requested: the workflow has the signal.
    const history = await handle.fetchHistory();
    expect(history.events?.filter((e) => e.workflowExecutionSignaledEventAttributes?.signalName === 'stop')).toHaveLength(1);

    const signalled = await cli(configFile, ['--no-wait', 'capture', 'stop']);
    expect({ code: signalled.code, stdout: signalled.stdout }).toEqual({ code: 0, stdout: `stop: signalled ${workflowId}\n` });

    const refused = await cli(configFile, ['capture', 'stop', '--timeout', 'soon']);
    expect({ code: refused.code, stderr: refused.stderr }).toEqual({ code: 2, stderr: expect.stringContaining('--timeout: a number of seconds, not "soon"') });
  } finally {
    await handle.terminate('test done').catch(() => undefined);
    await connection.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
