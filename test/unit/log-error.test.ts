import { Writable } from 'node:stream';
import { MockActivityEnvironment } from '@temporalio/testing';
import { createLogger } from '../../src/logger';
import { safeDetail, scrubSecrets, serializeError } from '../../src/log-error';

describe('failure serialization', () => {
  it('keeps the key columns of constraint details and drops their values', () => {
    expect(safeDetail('Key (id, "we(ird)")=(42, x) already exists.', '23505')).toBe('Key (id, "we(ird)")=(…) already exists.');
    expect(safeDetail('Key (user_id)=(7) is not present in table "users".', '23503')).toBe('Key (user_id)=(…) is not present in table "users".');
    expect(safeDetail('Key (r)=([1,5)) conflicts with existing key (r)=([2,3)).', '23P01')).toBe('Key (r)=(…) conflicts with existing key (r)=(…).');
    expect(safeDetail('Failing row contains (1, secret).', '23502')).toBe('[withheld: may contain row values]');
    expect(safeDetail('Token "secret" is invalid.', '22P02')).toBe('[withheld: may contain row values]');
    expect(safeDetail('Process 12 waits for ShareLock on transaction 34; blocked by process 56.', '40P01')).toContain('Process 12');
  });

  it('scrubs passwords from URLs and key=value settings', () => {
    expect(scrubSecrets('postgresql://app:s3cr%40t@db:5432/app and password=hunter2 user=x')).toBe(
      'postgresql://app:[redacted]@db:5432/app and password=[redacted] user=x',
    );
  });

  it('follows the cause chain and stops on a cycle', () => {
    const a = new Error('outer', { cause: new Error('inner', { cause: 'why' }) });
    expect(serializeError(a)).toMatchObject({ name: 'Error', message: 'outer', cause: { message: 'inner', cause: 'why' } });
    const loop = new Error('loop') as Error & { cause?: unknown };
    loop.cause = loop;
    expect(JSON.stringify(serializeError(loop))).toContain('[cause chain cut]');
    expect(serializeError('plain text')).toBe('plain text');
  });

  it('a line written inside an activity carries its workflow, activity and attempt', async () => {
    const lines: string[] = [];
    const logger = createLogger({
      level: 'warn',
      destination: new Writable({
        write(c: Buffer, _e, done) {
          lines.push(c.toString());
          done();
        },
      }),
    });
    await new MockActivityEnvironment({ attempt: 3, activityId: '7', activityType: 'captureChanges' }).run(async () => {
      logger.warn({ err: new Error('boom') }, 'inside');
    });
    logger.warn('outside');
    const [inside, outside] = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(inside).toMatchObject({ msg: 'inside', workflowId: 'test', activityId: '7', activityType: 'captureChanges', attempt: 3, err: { message: 'boom' } });
    expect(outside).not.toHaveProperty('workflowId');
  });
});
