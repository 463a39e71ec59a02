/**
 * Which failures stop retrying: the one list of non-retryable error names is what the workflows
 * give Temporal, every name on it is a class with that explicit name, and the classification
 * tells permanent failures from transient ones (lost connection, server restarting).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as errors from '../../src/errors';
import { classifyFailure, NON_RETRYABLE_ERROR_TYPES } from '../../src/core/error-types';
import { DecodeError } from '../../src/core/decoding/decode-error';
import { RenderError } from '../../src/core/sql/render-error';
import { nonRetryableErrorTypes } from '../../src/workflows/activity-options';
import { SegmentWriter } from '../../src/adapters/fs/segment-writer';
import { chainDir } from '../../src/core/repository/paths';

const pgError = (code: string, message = 'server says no') => Object.assign(new Error(message), { code, severity: 'FATAL' });

describe('non-retryable error classes', () => {
  it('the workflows give Temporal exactly the list in src/core/error-types.ts', () => {
    expect(nonRetryableErrorTypes).toEqual([...NON_RETRYABLE_ERROR_TYPES]);
    expect(errors.NON_RETRYABLE).toEqual(NON_RETRYABLE_ERROR_TYPES);
  });

  it('every listed name is a class that sets it as its name (the failure type Temporal matches)', () => {
    const classes: Record<string, new (message: string) => Error> = {
      ...(errors as unknown as Record<string, new (message: string) => Error>),
      DecodeError,
      RenderError,
    };
    for (const name of NON_RETRYABLE_ERROR_TYPES) {
      const Cls = classes[name];
      expect([name, typeof Cls]).toEqual([name, 'function']);
      const error = new Cls!('x');
      expect(error.name).toBe(name);
      expect(classifyFailure(error)).toBe('permanent');
    }
  });

  it('classifies lost connections and server restarts as transient, the rest as other', () => {
    for (const code of ['08006', '08001', '08P01', '57P01', '57P02', '57P03']) expect([code, classifyFailure(pgError(code))]).toEqual([code, 'transient']);
    for (const code of ['ECONNREFUSED', 'ECONNRESET'])
      expect([code, classifyFailure(Object.assign(new Error(`connect ${code} 127.0.0.1:5432`), { code }))]).toEqual([code, 'transient']);
    expect(classifyFailure(Object.assign(new Error('connect ENOENT /tmp/s/.s.PGSQL.5432'), { code: 'ENOENT', syscall: 'connect' }))).toBe('transient');
    expect(classifyFailure(Object.assign(new Error('ENOENT: no such file or directory, open /repo/x'), { code: 'ENOENT', syscall: 'open' }))).toBe('other');
    expect(classifyFailure(new AggregateError([Object.assign(new Error('connect ECONNREFUSED ::1:5432'), { code: 'ECONNREFUSED' })]))).toBe('transient');
    expect(classifyFailure(new Error('replication stream failed', { cause: pgError('57P01', 'terminating connection due to administrator command') }))).toBe(
      'transient',
    );
    expect(classifyFailure(new Error('Connection terminated unexpectedly'))).toBe('transient');
    for (const code of ['42P01', '57014', '53100', '23505']) expect([code, classifyFailure(pgError(code))]).toEqual([code, 'other']);
    expect(classifyFailure(new Error('something else'))).toBe('other');
    expect(classifyFailure('a string')).toBe('other');
    // the name wins over the cause: a missing slot found through a terminated connection stays permanent
    expect(classifyFailure(new errors.SlotMissingError('replication slot is missing', { cause: pgError('57P01') }))).toBe('permanent');
  });

  it('the segment-format guard is a SegmentFormatError (not retried) saying what to do', async () => {
    const root = await mkdtemp(join(tmpdir(), 'pgincr-guard-'));
    try {
      const fields = {
        systemIdentifier: '7312345678901234567',
        database: 'app',
        serverVersion: 'PostgreSQL 15.20',
        encoding: 'UTF8',
        slot: 'pgincr',
        decoder: 'pgoutput',
        timeline: 1,
      };
      const w = await SegmentWriter.open(chainDir(root, fields.systemIdentifier, fields.database), fields, 0x1000n);
      await w.beginTransaction({ xid: 7, commitLsn: 0x1010n, commitTime: '2026-11-27T14:00:00.000001Z' });
      let thrown: unknown;
      try {
        w.bufferStatement('CREATE TABLE public."a\nCOMMIT; -- xid 7 end_lsn 0/1100 changes 1" (id int);');
      } catch (error) {
        thrown = error;
      }
      expect(thrown).toBeInstanceOf(errors.SegmentFormatError);
      expect((thrown as Error).name).toBe('SegmentFormatError');
      expect((thrown as Error).message).toMatch(/xid 7: a statement contains a line that looks like a segment marker/);
      expect((thrown as InstanceType<typeof errors.SegmentFormatError>).hint).toMatch(/pgincr capture start.*pgincr setup --new-chain/);
      expect(classifyFailure(thrown)).toBe('permanent');
      await w.close();
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });
});
