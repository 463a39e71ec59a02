/**
 * The role switch around replayed DDL: how it is written, how the applier's DDL-region reader
 * takes it in, how --no-owner leaves it out (and only it), how the plan's scan collects it, and
 * the plain-dump filter of --no-owner.
 */
import { DDL_BLOCK_END, ddlRegionEnd, withoutRoleSwitches } from '../../../src/core/restore/ddl-region';
import { parseBatch } from '../../../src/core/restore/merge-changes';
import { NoOwnerFilter } from '../../../src/core/restore/no-owner-filter';
import { RESET_ROLE_LINE, parseSetRoleLine, quoteRole, setRoleLine } from '../../../src/core/sql/role-switch';
import { containsMarker } from '../../../src/core/segment/grammar';
import { rolesCreatedBy } from '../../../src/restore/check-roles';
import { renderSegment } from '../../helpers/restore-fixture';
import { scanSegment } from '../../../src/core/segment/scan';

const HEADER = '-- ddl: CREATE TABLE public.t role alice at 2026-11-27 14:00:00+00';
const PATH = "SELECT pg_catalog.set_config('search_path', '\"$user\", public', true);";
const INSERT = "INSERT INTO public.t (a) VALUES ('1');";

describe('SET ROLE lines', () => {
  it('always quote the role, and read back exactly', () => {
    const names = ['alice', 'Alice', 'a"b', 'select', 'ünï', 'x y', 'a\\b', 'x\nCOMMIT; -- xid 1 end_lsn 0/1 changes 1', 'tab\there\r'];
    for (const name of names) {
      const line = setRoleLine(name);
      expect(line.split('\n')).toHaveLength(1);
      expect(containsMarker(line)).toBe(false);
      expect(parseSetRoleLine(line)).toBe(name);
    }
    expect(setRoleLine('alice')).toBe('SET ROLE "alice";');
    expect(quoteRole('a"b')).toBe('"a""b"');
    expect(quoteRole('a\nb\\')).toBe('U&"a\\000ab\\005c"');
    expect(parseSetRoleLine('SET ROLE alice;')).toBeNull();
    expect(parseSetRoleLine('SET ROLE "a"; DROP TABLE t;')).toBeNull();
  });
});

describe('the applier reads a DDL block with its role switch', () => {
  const block = [HEADER, setRoleLine('alice'), PATH, 'CREATE TABLE t (a int);', DDL_BLOCK_END, RESET_ROLE_LINE];

  it('as one region ending after RESET ROLE: never merged, the DML after it is', () => {
    expect(ddlRegionEnd([...block, INSERT], 0)).toBe(6);
    const lines = parseBatch([{ sql: [...block, INSERT, INSERT.replace("'1'", "'2'"), ''].join('\n') }]);
    expect(lines[0]).toEqual({ kind: 'text', text: block.join('\n') });
    expect(lines.slice(1).map((l) => l.kind)).toEqual(['insert', 'insert']);
  });

  it('unsure (to the end) when SET ROLE is not closed by RESET ROLE right after the block', () => {
    const open = [HEADER, setRoleLine('alice'), PATH, 'CREATE TABLE t (a int);', DDL_BLOCK_END, INSERT, RESET_ROLE_LINE, INSERT];
    expect(ddlRegionEnd(open, 0)).toBe(open.length);
  });

  it('--no-owner drops exactly the top-level switch lines', () => {
    const fn = [
      HEADER,
      setRoleLine('alice'),
      PATH,
      'CREATE FUNCTION f() RETURNS void LANGUAGE plpgsql AS $$',
      'BEGIN',
      'RESET ROLE;',
      'SET ROLE "bob";',
      'END $$;',
      "COMMENT ON TABLE t IS '",
      'RESET ROLE;',
      "';",
      DDL_BLOCK_END,
      RESET_ROLE_LINE,
      INSERT,
      '',
    ];
    const kept = withoutRoleSwitches(fn.join('\n'));
    expect(kept.split('\n')).toEqual(fn.filter((_l, i) => i !== 1 && i !== 12));
    expect(withoutRoleSwitches(INSERT)).toBe(INSERT);
  });
});

describe('the plan scan collects the roles', () => {
  it('from SET ROLE lines inside transactions', () => {
    const bytes = renderSegment(0x1000n, [
      {
        xid: 5,
        commitLsn: 0x1010n,
        endLsn: 0x1040n,
        commitTime: '2026-01-01T00:00:00.000000Z',
        statements: [HEADER, setRoleLine('alice'), PATH, 'CREATE TABLE t (a int)', DDL_BLOCK_END, RESET_ROLE_LINE],
      },
      {
        xid: 6,
        commitLsn: 0x1050n,
        endLsn: 0x1080n,
        commitTime: '2026-01-01T00:00:01.000000Z',
        statements: [setRoleLine('Bö b'), setRoleLine('alice'), INSERT],
      },
    ]);
    const lines = scanSegment(bytes).roleLines.map((l) => Buffer.from(l, 'latin1').toString('utf8'));
    expect(lines.sort()).toEqual(['SET ROLE "Bö b";', 'SET ROLE "alice";']);
  });

  it('and globals.sql tells which roles the globals step creates', () => {
    expect(rolesCreatedBy('--\n-- Roles\n--\n\nCREATE ROLE alice;\nALTER ROLE alice WITH NOSUPERUSER;\nCREATE ROLE "Bob ""B""";\n')).toEqual([
      'alice',
      'Bob "B"',
    ]);
  });
});

describe('NoOwnerFilter (plain base under --no-owner)', () => {
  const dump = [
    '--',
    '-- Name: t; Type: TABLE; Schema: public; Owner: alice',
    '--',
    '',
    'CREATE TABLE public.t (',
    '    a integer',
    ');',
    '',
    '',
    'ALTER TABLE public.t OWNER TO alice;',
    '',
    'CREATE FUNCTION public.f() RETURNS text',
    '    LANGUAGE sql',
    '    AS $$',
    'ALTER TABLE public.t OWNER TO alice;',
    '$$;',
    '',
    'ALTER FUNCTION public.f() OWNER TO "Mixed ""Role""";',
    'COPY public.t (a) FROM stdin;',
    'ALTER TABLE public.t OWNER TO alice;',
    '\\.',
    '\\restrict abc',
    'GRANT SELECT ON TABLE public.t TO bob;',
    '',
  ].join('\n');

  it('drops the ownership statements, keeps the same text inside a body or COPY data, and grants', () => {
    const f = new NoOwnerFilter();
    // fed in small chunks split anywhere
    let out = '';
    for (let i = 0; i < dump.length; i += 7) out += f.push(dump.slice(i, i + 7));
    out += f.end();
    const dropped = new Set([9, 17]);
    expect(out).toBe(
      dump
        .split('\n')
        .filter((_l, i) => !dropped.has(i))
        .join('\n'),
    );
    expect(f.dropped).toBe(2);
  });
});
