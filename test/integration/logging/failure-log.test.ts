/**
 * A failure logged through pgincr's logger says why: a real worker (createWorker, with pgincr's
 * pino installed as the Temporal Runtime logger) runs a capture whose activity fails against a
 * real PostgreSQL, and the captured log lines carry the error's name, message, SQLSTATE and the
 * workflow/activity ids and attempt; a real constraint violation is logged with its constraint,
 * table and SQLSTATE but without the row's values.
 */
import { Writable } from 'node:stream';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig } from '../../../src/config';
import { createLogger } from '../../../src/logger';
import { createWorker, installRuntimeLogger } from '../../../src/worker';
import { PgincrError } from '../../../src/errors';
import { startCluster, type PgCluster } from '../../helpers/pg-cluster';
import { setupTemporal, temporalAddress, TEST_NAMESPACE } from '../../helpers/temporal';
import { waitFor } from '../../helpers/pgincr-env';

jest.setTimeout(180_000);

const lines: Array<Record<string, unknown>> = [];
const sink = new Writable({
  write(chunk: Buffer, _encoding, done) {
    for (const line of chunk.toString('utf8').split('\n')) if (line.trim()) lines.push(JSON.parse(line) as Record<string, unknown>);
    done();
  },
});
const logger = createLogger({ level: 'warn', destination: sink });

// Before setupTemporal's hooks: the Runtime logger is installed once per process, first wins.
beforeAll(() => installRuntimeLogger(logger));

describe('failure logs', () => {
  let pg: PgCluster;
  let repository: string;
  const temporal = setupTemporal({ workflowsPath: require.resolve('../../../src/workflows') });

  beforeAll(async () => {
    pg = await startCluster();
    await pg.createDatabase('app');
    repository = mkdtempSync(join(tmpdir(), 'pgincr-repo-'));
  });
  afterAll(async () => {
    if (repository) rmSync(repository, { recursive: true, force: true });
    await pg?.stop();
  });

  it('an activity failure logged by the SDK carries the reason, SQLSTATE, ids and attempt', async () => {
    const config = parseConfig(
      {
        repository,
        // A database that does not exist: every attempt fails with SQLSTATE 3D000.
        profiles: { default: pg.profile('no_such_db') },
        temporal: { address: temporalAddress(), namespace: TEST_NAMESPACE, taskQueue: temporal.taskQueue },
      },
      {},
      'test config',
    );
    const worker = await createWorker(config, logger, { taskQueue: temporal.taskQueue, workflowBundle: temporal.bundle });
    const workflowId = temporal.workflowId('capture');
    const failed = () => lines.find((l) => l.msg === 'Activity failed' && l.workflowId === workflowId);
    await worker.runUntil(async () => {
      const handle = await temporal.client.workflow.start('captureWorkflow', { taskQueue: temporal.taskQueue, workflowId, args: [{ profile: 'default' }] });
      try {
        await waitFor('the activity failure in the log', async () => failed() !== undefined, 60_000);
      } finally {
        await handle.terminate('test done').catch(() => undefined); // it may have failed already
      }
    });
    const line = failed()!;
    expect(line).toMatchObject({
      level: 40,
      component: 'temporal',
      activityType: 'captureChanges',
      attempt: 1,
      workflowType: 'captureWorkflow',
      error: {
        name: 'ConfigError',
        code: 'config',
        message: expect.stringContaining('database "no_such_db" does not exist\nhint: '),
        cause: { name: 'DatabaseError', sqlstate: '3D000', message: 'database "no_such_db" does not exist' },
      },
    });
    expect(line.activityId).toEqual(expect.any(String));
    expect(line).not.toHaveProperty('taskToken');
  });

  it('a constraint violation keeps constraint, table and SQLSTATE, drops the row values, and follows the cause chain', async () => {
    const client = await pg.connect('app');
    await client.query('CREATE TABLE accounts (email text CONSTRAINT accounts_email_key UNIQUE)');
    await client.query(`INSERT INTO accounts VALUES ('alice@secret.example')`);
    const violation = await client.query(`INSERT INTO accounts VALUES ('alice@secret.example')`).catch((e: unknown) => e);
    await client.end();
    const wrapped = new PgincrError('apply', 'applying xid 42 at 0/16B3748 failed', { cause: violation });
    logger.error({ err: wrapped }, 'restore failed');
    logger.warn({ error: new Error('connect to postgres://backup:hunter2@db1/app failed') }, 'retrying');

    const failure = lines.find((l) => l.msg === 'restore failed')!;
    expect(failure.err).toMatchObject({
      name: 'PgincrError',
      code: 'apply',
      message: 'applying xid 42 at 0/16B3748 failed',
      cause: {
        name: 'DatabaseError',
        sqlstate: '23505',
        constraint: 'accounts_email_key',
        table: 'accounts',
        message: 'duplicate key value violates unique constraint "accounts_email_key"',
        detail: 'Key (email)=(…) already exists.',
      },
    });
    const retry = lines.find((l) => l.msg === 'retrying')!;
    expect(retry.error).toMatchObject({ name: 'Error', message: 'connect to postgres://backup:[redacted]@db1/app failed' });
    const all = JSON.stringify(lines);
    expect(all).not.toContain('alice@secret.example');
    expect(all).not.toContain('hunter2');
  });
});
