import { dbnameConninfo, parseToolMajor, pgDumpArgs, pgDumpallGlobalsArgs, pgRestoreArgs, psqlFileArgs } from '../../../src/core/commands/argv';
import { recvlogicalArgs } from '../../../src/adapters/exec/pg-recvlogical';
import { EventTriggerFilter } from '../../../src/core/commands/dump-filter';

describe('argv builders', () => {
  it('builds pg_dump arguments without connection settings', () => {
    expect(pgDumpArgs({ format: 'plain', snapshot: '00000003-00000002-1', excludeSchemas: ['pgincr'] }))
      .toEqual(['--format=plain', '--no-password', '--blobs', '--snapshot=00000003-00000002-1', '--exclude-schema=pgincr']);
    expect(pgDumpArgs({ format: 'directory', jobs: 4, outPath: '/r/dump.dir', excludeSchemas: [] }))
      .toEqual(['--format=directory', '--no-password', '--blobs', '--file=/r/dump.dir', '--jobs=4']);
    expect(() => pgDumpArgs({ format: 'directory', excludeSchemas: [] })).toThrow('output folder');
    expect(pgDumpallGlobalsArgs({ noRolePasswords: true, database: 'app' })).toEqual(['--globals-only', '--no-password', "--database=dbname='app'", '--no-role-passwords']);
    expect(psqlFileArgs('-')).toEqual(['-X', '--no-password', '-v', 'ON_ERROR_STOP=1', '-q', '-f', '-']);
  });

  // libpq expands a dbname option holding `=` or a URI prefix into a whole connection string.
  const HOSTILE: Array<[string, string]> = [
    ['host=127.0.0.1 port=1 dbname=x', "dbname='host=127.0.0.1 port=1 dbname=x'"],
    ['postgresql://evil/x', "dbname='postgresql://evil/x'"],
    ['postgres://evil/x', "dbname='postgres://evil/x'"],
    ['-X', "dbname='-X'"],
    ['--help', "dbname='--help'"],
    ["it's \\ a \"db\"", "dbname='it\\'s \\\\ a \"db\"'"],
    ["x' host='evil", "dbname='x\\' host=\\'evil'"],
  ];

  it.each(HOSTILE)('passes the database name %j as a one-keyword connection string', (name, conninfo) => {
    expect(dbnameConninfo(name)).toBe(conninfo);
    expect(pgDumpallGlobalsArgs({ noRolePasswords: false, database: name })).toEqual(['--globals-only', '--no-password', `--database=${conninfo}`]);
    expect(pgRestoreArgs({ dbname: name, archive: '/r/dump.dir', jobs: 4, clean: true, listFile: '/r/dump.list' })).toEqual([
      '--no-password', '--exit-on-error', `--dbname=${conninfo}`, '--jobs=4', '--clean', '--if-exists', '--use-list=/r/dump.list', '--', '/r/dump.dir',
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

const DUMP = `--
-- PostgreSQL database dump
--

SET statement_timeout = 0;

--
-- Name: t; Type: TABLE; Schema: public; Owner: postgres
--

CREATE TABLE public.t (
    a text
);

--
-- Data for Name: t; Type: TABLE DATA; Schema: public; Owner: postgres
--

COPY public.t (a) FROM stdin;
--
-- Name: pgincr_fake; Type: EVENT TRIGGER; Schema: -; Owner: postgres
\\.


--
-- Name: pgincr_ddl_command_end; Type: EVENT TRIGGER; Schema: -; Owner: postgres
--

CREATE EVENT TRIGGER pgincr_ddl_command_end ON ddl_command_end
   EXECUTE FUNCTION pgincr.on_ddl_command_end();


ALTER EVENT TRIGGER pgincr_ddl_command_end OWNER TO postgres;

--
-- Name: other_trigger; Type: EVENT TRIGGER; Schema: -; Owner: postgres
--

CREATE EVENT TRIGGER other_trigger ON ddl_command_end
   EXECUTE FUNCTION public.f();


--
-- PostgreSQL database dump complete
--

`;

describe('EventTriggerFilter', () => {
  const run = (chunks: string[]) => {
    const f = new EventTriggerFilter();
    return { out: chunks.map((c) => f.push(c)).join('') + f.end(), dropped: f.dropped };
  };

  it('drops the sections of pgincr event triggers, keeps everything else byte for byte', () => {
    const { out, dropped } = run([DUMP]);
    expect(dropped).toBe(1);
    const expected = DUMP.replace(/--\n-- Name: pgincr_ddl_command_end[\s\S]*?OWNER TO postgres;\n\n/, '');
    expect(out).toBe(expected);
    expect(out).toContain('-- Name: pgincr_fake; Type: EVENT TRIGGER'); // COPY data is untouched
    expect(out).toContain('CREATE EVENT TRIGGER other_trigger');
  });

  it('gives the same output whatever the chunking', () => {
    const whole = run([DUMP]).out;
    for (const size of [1, 2, 7, 64]) {
      const chunks: string[] = [];
      for (let i = 0; i < DUMP.length; i += size) chunks.push(DUMP.slice(i, i + size));
      expect(run(chunks).out).toBe(whole);
    }
    expect(run(['no newline at end']).out).toBe('no newline at end');
    expect(run(['a\n--']).out).toBe('a\n--\n');
  });
});

describe('EventTriggerFilter and decoder_raw table triggers', () => {
  it("drops a table's pgincr_raw_capture trigger section, keeps the table's own triggers", () => {
    const dump = [
      '--', '-- Name: users pgincr_raw_capture; Type: TRIGGER; Schema: public; Owner: postgres', '--', '',
      'CREATE TRIGGER pgincr_raw_capture AFTER INSERT OR DELETE OR UPDATE ON public.users FOR EACH STATEMENT EXECUTE FUNCTION pgincr.raw_capture();', '', '',
      '--', '-- Name: users audit; Type: TRIGGER; Schema: public; Owner: postgres', '--', '',
      'CREATE TRIGGER audit AFTER INSERT ON public.users FOR EACH ROW EXECUTE FUNCTION public.audit();', '',
    ].join('\n');
    const f = new EventTriggerFilter();
    const out = f.push(dump) + f.end();
    expect(f.dropped).toBe(1);
    expect(out).not.toContain('pgincr_raw_capture');
    expect(out).toContain('CREATE TRIGGER audit AFTER INSERT ON public.users');
  });
});
