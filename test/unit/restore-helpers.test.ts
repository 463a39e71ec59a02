import { stopDecider } from '../../src/restore/stop-target';
import { parsePsqlErrors } from '../../src/restore/restore-globals';
import { headerSettings } from '../../src/restore/apply-segments';
import { parseLsn } from '../../src/core/lsn';

const txn = (xid: number, lsn: string, time: string) => ({ xid, commitLsn: parseLsn(lsn), commitTime: time });

describe('stopDecider', () => {
  it('compares commit LSNs inclusively or not', () => {
    const inc = stopDecider({ kind: 'lsn', lsn: '0/100', inclusive: true });
    const exc = stopDecider({ kind: 'lsn', lsn: '0/100', inclusive: false });
    expect([inc(txn(1, '0/FF', '')), inc(txn(1, '0/100', '')), inc(txn(1, '0/101', ''))]).toEqual(['apply', 'apply', 'stop-before']);
    expect(exc(txn(1, '0/100', ''))).toBe('stop-before');
  });

  it('compares commit times to the microsecond, whatever the offset of the target', () => {
    const d = stopDecider({ kind: 'time', time: '2026-01-01T01:00:00.000001+01:00', inclusive: true });
    expect(d(txn(1, '0/1', '2026-01-01T00:00:00.000001Z'))).toBe('apply');
    expect(d(txn(1, '0/1', '2026-01-01T00:00:00.000002Z'))).toBe('stop-before');
  });

  it('stops after or before an xid', () => {
    expect(stopDecider({ kind: 'xid', xid: 7, inclusive: true })(txn(7, '0/1', ''))).toBe('apply-and-stop');
    expect(stopDecider({ kind: 'xid', xid: 7, inclusive: false })(txn(7, '0/1', ''))).toBe('stop-before');
    expect(stopDecider({ kind: 'xid', xid: 7, inclusive: false })(txn(6, '0/1', ''))).toBe('apply');
  });
});

describe('segment pieces', () => {
  const seg = Buffer.from(
    [
      '-- pgincr segment v1',
      '-- a',
      '-- b',
      "SET client_encoding = 'LATIN1';",
      'SET standard_conforming_strings = on;',
      "SET DateStyle = 'ISO, YMD'; SET TimeZone = 'UTC';",
      "SET search_path = '';",
      '',
      'BEGIN; -- xid 5 commit_lsn 0/10 committed 2026-01-01 00:00:00.000000+00',
      'INSERT 1;',
      'INSERT 2;',
      'COMMIT; -- xid 5 end_lsn 0/20 changes 2',
      '',
    ].join('\n'),
    'latin1',
  );

  it('keeps the header settings but client_encoding', () => {
    const headerLength = seg.indexOf('\nBEGIN');
    expect(headerSettings(seg, headerLength)).toBe(
      "SET standard_conforming_strings = on; SET DateStyle = 'ISO, YMD'; SET TimeZone = 'UTC'; SET search_path = '';",
    );
  });
});

describe('parsePsqlErrors', () => {
  it('reads line, SQLSTATE and message from verbose psql errors', () => {
    const stderr = 'psql:/x/globals.sql:12: ERROR:  42710: role "postgres" already exists\nLOCATION:  CreateRole, user.c:331\n';
    expect(parsePsqlErrors(stderr)).toEqual([{ line: 12, sqlState: '42710', message: 'role "postgres" already exists' }]);
  });
});
