import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WorkflowUpdateStage } from '@temporalio/client';
import { findTemporalBinary, startDevServer } from '../../src/dev/temporal-dev-server';
import { setupTemporal } from '../helpers/temporal';
import { finish, greetWorkflow, setSuffix } from '../fixtures/workflows/greet';

// Each test waits on real servers (a second dev server starts below) on a shared 2-core machine.
jest.setTimeout(120_000);

function tcpConnect(address: string): Promise<void> {
  const [host, port] = address.split(':');
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), host, () => {
      socket.end();
      resolve();
    });
    socket.on('error', reject);
  });
}

const calls: string[] = [];
const activities = {
  async greet(name: string): Promise<string> {
    calls.push(name);
    return `hello, ${name}`;
  },
};

describe('temporal dev server (shared by the integration run)', () => {
  const t = setupTemporal({ workflowsPath: require.resolve('../fixtures/workflows/greet'), activities });

  it('runs a workflow with an activity, an update and a signal through the real server', async () => {
    const result = await t.run(async () => {
      const handle = await t.client.workflow.start(greetWorkflow, {
        taskQueue: t.taskQueue,
        workflowId: t.workflowId('greet'),
        args: ['pg'],
      });
      const previous = await handle.executeUpdate(setSuffix, { args: ['!'] });
      expect(previous).toBe('');
      const update = await handle.startUpdate(setSuffix, { args: ['!!'], waitForStage: WorkflowUpdateStage.ACCEPTED });
      expect(await update.result()).toBe('!');
      await handle.signal(finish);
      return handle.result();
    });
    expect(result).toBe('hello, pg!!');
    expect(calls).toEqual(['pg']);
  });

  it('keeps the history on the server after the worker stopped', async () => {
    const id = t.workflowId('history');
    await t.run(async () => {
      const handle = await t.client.workflow.start(greetWorkflow, { taskQueue: t.taskQueue, workflowId: id, args: ['again'] });
      await handle.signal(finish);
      await handle.result();
    });
    const described = await t.client.workflow.getHandle(id).describe();
    expect(described.status.name).toBe('COMPLETED');
    expect(described.taskQueue).toBe(t.taskQueue);
  });
});

describe('startDevServer', () => {
  it('finds the CLI and reports a failing start with the server log', async () => {
    expect(findTemporalBinary()).toMatch(/temporal$/);
    const failure = await startDevServer({ namespace: 'x', headless: true, extraArgs: ['--no-such-flag'] }).then(
      () => new Error('started'),
      (e: unknown) => e as Error,
    );
    expect(failure.message).toMatch(/exited with 1; log \S+temporal\.log, last lines:[\s\S]*unknown flag: --no-such-flag/);
    const log = /log (\S+)\/temporal\.log,/.exec(failure.message)?.[1];
    if (log) rmSync(log, { recursive: true, force: true });
  });

  it('names the env override when it is not executable', () => {
    expect(() => findTemporalBinary({ PGINCR_TEMPORAL_BIN: '/nonexistent/temporal' })).toThrow(
      /temporal cli not executable: PGINCR_TEMPORAL_BIN=\/nonexistent\/temporal[\s\S]*hint: run scripts\/install-deps/,
    );
  });

  it('starts a second server with a SQLite file and a UI, and stops it for good', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pgincr-devsrv-'));
    const server = await startDevServer({ namespace: 'pgincr-own', dbFile: join(dir, 'temporal.sqlite') });
    try {
      expect(server.uiUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      const ui = await fetch(server.uiUrl!);
      expect(ui.status).toBe(200);
      expect(existsSync(join(dir, 'temporal.sqlite'))).toBe(true);
    } finally {
      await server.stop();
      rmSync(dir, { recursive: true, force: true });
    }
    expect(() => process.kill(server.pid, 0)).toThrow(/ESRCH/);
    await expect(tcpConnect(server.address)).rejects.toThrow(/ECONNREFUSED/);
  });
});
