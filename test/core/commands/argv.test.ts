import {
  dbnameConninfo,
  parseToolMajor,
  pgDumpArgs,
  pgDumpallGlobalsArgs,
  pgRestoreArgs,
  pgRestoreListArgs,
  pgRestoreScriptArgs,
  psqlFileArgs,
} from '../../../src/core/commands/argv';
import { recvlogicalArgs } from '../../../src/adapters/exec/pg-recvlogical';

describe('argv builders', () => {
  it('builds pg_dump arguments without connection settings', () => {
    expect(pgDumpArgs({ format: 'plain', snapshot: '00000003-00000002-1', excludeSchemas: ['pgincr'] })).toEqual([
      '--format=plain',
      '--no-password',
      '--blobs',
      '--snapshot=00000003-00000002-1',
      '--exclude-schema=pgincr',
    ]);
    expect(pgDumpArgs({ format: 'directory', jobs: 4, outPath: '/r/dump.dir', excludeSchemas: [] })).toEqual([
      '--format=directory',
      '--no-password',
      '--blobs',
      '--file=/r/dump.dir',
      '--jobs=4',
    ]);
    expect(() => pgDumpArgs({ format: 'directory', excludeSchemas: [] })).toThrow('output folder');
    expect(pgDumpArgs({ format: 'custom', snapshot: 'S-1', compress: 0, excludeSchemas: ['pgincr'] })).toEqual([
      '--format=custom',
      '--no-password',
      '--blobs',
      '--snapshot=S-1',
      '--exclude-schema=pgincr',
      '--compress=0',
    ]);
    expect(pgDumpArgs({ format: 'custom', snapshot: 'S-1', outPath: '/r/a.tmp', compress: 0, excludeSchemas: ['pgincr'] })).toEqual([
      '--format=custom',
      '--no-password',
      '--blobs',
      '--snapshot=S-1',
      '--exclude-schema=pgincr',
      '--file=/r/a.tmp',
      '--compress=0',
    ]);
    expect(pgRestoreListArgs('/r/a.tmp')).toEqual(['--list', '--verbose', '--', '/r/a.tmp']);
    expect(pgRestoreListArgs()).toEqual(['--list', '--verbose']);
    expect(pgRestoreScriptArgs({ listFile: '/r/l' })).toEqual(['--file=-', '--use-list=/r/l']);
    expect(pgRestoreScriptArgs({ archive: '/r/a.tmp', listFile: '/r/l' })).toEqual(['--file=-', '--use-list=/r/l', '--', '/r/a.tmp']);
    expect(pgDumpallGlobalsArgs({ noRolePasswords: true, database: 'app' })).toEqual([
      '--globals-only',
      '--no-password',
      "--database=dbname='app'",
      '--no-role-passwords',
    ]);
    expect(psqlFileArgs('-')).toEqual(['-X', '--no-password', '-v', 'ON_ERROR_STOP=1', '-q', '-f', '-']);
  });

  // libpq expands a dbname option holding `=` or a URI prefix into a whole connection string.
  const HOSTILE: Array<[string, string]> = [
    ['host=127.0.0.1 port=1 dbname=x', "dbname='host=127.0.0.1 port=1 dbname=x'"],
    ['postgresql://evil/x', "dbname='postgresql://evil/x'"],
    ['postgres://evil/x', "dbname='postgres://evil/x'"],
    ['-X', "dbname='-X'"],
    ['--help', "dbname='--help'"],
    ['it\'s \\ a "db"', "dbname='it\\'s \\\\ a \"db\"'"],
    ["x' host='evil", "dbname='x\\' host=\\'evil'"],
  ];

  it.each(HOSTILE)('passes the database name %j as a one-keyword connection string', (name, conninfo) => {
    expect(dbnameConninfo(name)).toBe(conninfo);
    expect(pgDumpallGlobalsArgs({ noRolePasswords: false, database: name })).toEqual(['--globals-only', '--no-password', `--database=${conninfo}`]);
    expect(pgRestoreArgs({ dbname: name, archive: '/r/dump.dir', jobs: 4, clean: true, listFile: '/r/dump.list' })).toEqual([
      '--no-password',
      '--exit-on-error',
      `--dbname=${conninfo}`,
      '--jobs=4',
      '--clean',
      '--if-exists',
      '--use-list=/r/dump.list',
      '--',
      '/r/dump.dir',
    ]);
    const recv = recvlogicalArgs({ dbname: name, slot: 's', file: '/r/raw', fsyncIntervalS: 1 });
    expect(recv.filter((a) => a.startsWith('--dbname'))).toEqual([`--dbname=${conninfo}`]);
    // Every argument is one option with its value attached, or after `--`.
    expect(recv.every((a) => a.startsWith('--') && a.length > 2)).toBe(true);
  });

  it('reads a quoted conninfo back to the same name (libpq conninfo rules)', () => {
    // libpq's parser: inside '…', a backslash takes the next character literally.
    const unquote = (c: string) => /^dbname='((?:[^'\\]|\\.)*)'$/.exec(c)![1]!.replace(/\\(.)/g, '$1');
    for (const [name] of HOSTILE) expect(unquote(dbnameConninfo(name))).toBe(name);
    expect(() => dbnameConninfo('a\0b')).toThrow(/NUL/);
  });

  it('reads the major version of a client program', () => {
    expect(parseToolMajor('pg_dump (PostgreSQL) 15.20 (Debian 15.20-0+deb12u1)\n')).toBe(15);
    expect(parseToolMajor('pg_dump (PostgreSQL) 9.6.24')).toBe(9);
    expect(() => parseToolMajor('nope')).toThrow('cannot read a PostgreSQL version');
  });
});
