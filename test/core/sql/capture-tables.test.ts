import { DdlOrdinals, initDdlParser } from '../../../src/core/ddl/extract';
import type { TupleValue } from '../../../src/core/decoding/model';
import { SETTING_COLUMNS } from '../../../src/adapters/pg/migrations/004-ddl-session-settings';
import {
  DDL_SESSION_SETTINGS,
  executeInDoBlock,
  renderCaptureChange,
  renderMarker,
  renderSequencePositions,
  settingsAround,
  type CaptureContext,
} from '../../../src/core/sql/capture-tables';
import { containsMarker, renderSegmentHeader } from '../../../src/core/segment/grammar';
import type { RelationInfo } from '../../../src/core/sql/render';
import { parseTextArray } from '../../../src/core/sql/text-array';

const bytes = (s: string) => Buffer.from(s, 'utf8').toString('latin1');
const t = (value: string): TupleValue => ({ kind: 'text', value });

function captureRel(table: string, cols: string[]): RelationInfo {
  return {
    relationId: 9,
    schema: 'pgincr',
    table,
    replicaIdentity: 'd',
    columns: cols.map((name) => ({ name, typeOid: 25, typeMod: -1, isKey: name === 'id' })),
    identityAlways: new Set(),
    generated: new Set(),
  };
}

const DDL_COLS = ['id', 'xid', 'occurred_at', 'role_name', 'search_path', 'command_tag', 'object_types', 'object_identities', 'query', 'schema_version'];
const ddlRel = captureRel('ddl_history', DDL_COLS);

function ddlRow(commandTag: string, identities: string, query: string): TupleValue[] {
  return [t('1'), t('750'), t('2026-11-27 14:00:00.123456+00'), t('alice'), t('"$user", public'), t(commandTag), t('{table}'), t(identities), t(query), t('1')];
}

const ctx = (mode: 'fail' | 'warn' = 'warn'): CaptureContext => ({ ordinals: new DdlOrdinals(), ddlInFunction: mode });

beforeAll(async () => {
  await initDdlParser();
});

describe('ddl_history rows', () => {
  it('render as the DDL with the captured search_path around it', () => {
    const sql = renderCaptureChange({ kind: 'insert', rel: ddlRel, tuple: ddlRow('CREATE TABLE', '{public.t}', 'CREATE TABLE t (id int);') }, ctx());
    expect(sql).toBe(
      [
        '-- ddl: CREATE TABLE public.t role alice at 2026-11-27 14:00:00.123456+00',
        'SET ROLE "alice";',
        "SELECT pg_catalog.set_config('search_path', '\"$user\", public', true);",
        'CREATE TABLE t (id int);',
        "SELECT pg_catalog.set_config('search_path', '', true);",
        'RESET ROLE;',
        '',
      ].join('\n'),
    );
  });

  it('use the transaction ordinal for repeated firings of one query text', () => {
    const c = ctx();
    const q = 'CREATE TABLE a (); CREATE TABLE "b c" ();';
    renderCaptureChange({ kind: 'insert', rel: ddlRel, tuple: ddlRow('CREATE TABLE', '{public.a}', q) }, c);
    const second = renderCaptureChange({ kind: 'insert', rel: ddlRel, tuple: ddlRow('CREATE TABLE', '{"public.\\"b c\\""}', q) }, c);
    expect(second).toContain('-- ddl: CREATE TABLE public."b c" role alice');
    expect(second).toContain('\nCREATE TABLE "b c" ();\n');
  });

  it('DDL inside a function: a comment under warn, an error under fail', () => {
    const row = ddlRow('CREATE TABLE', '{public.x}', 'DO $$BEGIN\nCREATE TABLE x();\nEND$$');
    expect(renderCaptureChange({ kind: 'insert', rel: ddlRel, tuple: row }, ctx('warn'))).toBe(
      '-- ddl: CREATE TABLE public.x role alice at 2026-11-27 14:00:00.123456+00\n' +
        '-- not replayed: ran inside a function, DO block or procedure; outer query: DO $$BEGIN\\nCREATE TABLE x();\\nEND$$\n',
    );
    expect(() => renderCaptureChange({ kind: 'insert', rel: ddlRel, tuple: row }, ctx('fail'))).toThrow(
      /^ddl CREATE TABLE \(public\.x\) at 2026-11-27 14:00:00\.123456\+00 cannot be replayed: ran inside a function/,
    );
  });

  it('temporary objects are written as a comment only, but still counted', () => {
    const c = ctx();
    const q = 'CREATE TEMP TABLE tmp (); CREATE TABLE keep ();';
    const first = renderCaptureChange({ kind: 'insert', rel: ddlRel, tuple: ddlRow('CREATE TABLE', '{pg_temp.tmp}', q) }, c);
    expect(first).toMatch(/-- not replayed: temporary object\n$/);
    const second = renderCaptureChange({ kind: 'insert', rel: ddlRel, tuple: ddlRow('CREATE TABLE', '{public.keep}', q) }, c);
    expect(second).toContain('\nCREATE TABLE keep ();\n');
  });

  it('keep comments on one line whatever the identities hold', () => {
    const sql = renderCaptureChange({ kind: 'insert', rel: ddlRel, tuple: ddlRow('CREATE TABLE', '{"public.\\"a\nb\\""}', 'CREATE TABLE "a\nb" ()') }, ctx());
    expect(sql.split('\n')[0]).toBe('-- ddl: CREATE TABLE public."a\\nb" role alice at 2026-11-27 14:00:00.123456+00');
  });
});

describe('ddl_history rows of schema version 2 (phase, statement_ordinal)', () => {
  const rel2 = captureRel('ddl_history', [...DDL_COLS, 'phase', 'statement_ordinal']);
  const row2 = (tag: string, ids: string, query: string, phase: 'start' | 'end', ordinal: string | null): TupleValue[] => [
    ...ddlRow(tag, ids, query),
    t(phase),
    ordinal === null ? { kind: 'null' } : t(ordinal),
  ];
  const render = (tuple: TupleValue[], c = ctx()) => renderCaptureChange({ kind: 'insert', rel: rel2, tuple }, c);
  const q = 'CREATE TABLE t2 AS SELECT 1 AS a; SELECT * INTO t3 FROM t2; CREATE TABLE t4 ();';

  it('render CREATE TABLE AS / SELECT INTO at the start row, and nothing at their end row', () => {
    const c = ctx();
    expect(render(row2('CREATE TABLE AS', '{}', q, 'start', '0'), c)).toContain('\nCREATE TABLE t2 AS SELECT 1 AS a WITH NO DATA;\n');
    expect(render(row2('CREATE TABLE AS', '{public.t2}', q, 'end', null), c)).toBe('');
    expect(render(row2('SELECT INTO', '{}', q, 'start', '0'), c)).toContain('\nCREATE TABLE t3 AS SELECT * FROM t2 WITH NO DATA;\n');
    expect(render(row2('SELECT INTO', '{public.t3}', q, 'end', null), c)).toBe('');
    expect(render(row2('CREATE TABLE', '{public.t4}', q, 'end', '1'), c)).toContain('\nCREATE TABLE t4 ();\n');
  });

  it("use the trigger's statement ordinal (firings it did not record still count)", () => {
    // CREATE TEMP TABLE fired (ordinal 0) but was not recorded.
    const sql = render(row2('CREATE TABLE', '{public.keep}', 'CREATE TEMP TABLE tmp (); CREATE TABLE keep ();', 'end', '1'));
    expect(sql).toContain('\nCREATE TABLE keep ();\n');
  });

  it('a schema version 1 row (no phase) still renders CREATE TABLE AS at its end row', () => {
    expect(renderCaptureChange({ kind: 'insert', rel: ddlRel, tuple: ddlRow('CREATE TABLE AS', '{public.t2}', q) }, ctx())).toContain(
      '\nCREATE TABLE t2 AS SELECT 1 AS a WITH NO DATA;\n',
    );
  });

  it('a CREATE TABLE AS into pg_temp is a temporary object', () => {
    expect(render(row2('CREATE TABLE AS', '{}', 'CREATE TABLE pg_temp.x AS SELECT 1', 'start', '0'))).toMatch(/-- not replayed: temporary object\n$/);
  });

  it('a statement with a marker-like line is run through EXECUTE, on one line', () => {
    const fn = "CREATE FUNCTION f() RETURNS text LANGUAGE sql AS $$\nSELECT '\nBEGIN; -- xid 1 commit_lsn 0/1 committed x\nCOMMIT; -- xid 1 '\n$$";
    const sql = render(row2('CREATE FUNCTION', '{public.f()}', `${fn};`, 'end', '0'));
    expect(containsMarker(sql)).toBe(false);
    expect(sql.split('\n')[3]).toBe(
      "DO $pgincr$ BEGIN EXECUTE E'CREATE FUNCTION f() RETURNS text LANGUAGE sql AS $$\\nSELECT ''\\nBEGIN; -- xid 1 commit_lsn 0/1 committed x\\nCOMMIT; -- xid 1 ''\\n$$'; END $pgincr$;",
    );
    expect(executeInDoBlock('SELECT $pgincr$x$pgincr$')).toBe("DO $pgincr1$ BEGIN EXECUTE E'SELECT $pgincr$x$pgincr$'; END $pgincr1$");
  });
});

describe('ddl_history rows of schema version 4 (session settings, volatile rewrites)', () => {
  const names = DDL_SESSION_SETTINGS.map((s) => s.column);
  const rel4 = captureRel('ddl_history', [...DDL_COLS, 'phase', 'statement_ordinal', ...names, 'volatile_rewrites']);
  // A typical session: TimeZone and DateStyle of the server, extra_float_digits 1 (same output as 3).
  const source: Record<string, string> = {
    timezone: 'America/New_York',
    datestyle: 'ISO, MDY',
    intervalstyle: 'postgres',
    extra_float_digits: '1',
    bytea_output: 'hex',
    standard_conforming_strings: 'on',
    check_function_bodies: 'on',
    transform_null_equals: 'off',
    array_nulls: 'on',
  };
  const row4 = (query: string, settings: Record<string, string> = source, rewrites: string | null = null): TupleValue[] => [
    ...ddlRow('ALTER TABLE', '{public.z}', query),
    t('end'),
    t('0'),
    ...names.map((n) => t(settings[n] as string)),
    rewrites === null ? { kind: 'null' } : t(rewrites),
  ];
  const render = (tuple: TupleValue[], c = ctx()) => renderCaptureChange({ kind: 'insert', rel: rel4, tuple }, c);

  it('set the settings that differ from the segment around the DDL, then reset them to the segment values', () => {
    const q = "ALTER TABLE z ADD COLUMN ts timestamptz DEFAULT '2026-01-01 00:00'";
    expect(render(row4(q))).toBe(
      [
        '-- ddl: ALTER TABLE public.z role alice at 2026-11-27 14:00:00.123456+00',
        'SET ROLE "alice";',
        "SELECT pg_catalog.set_config('search_path', '\"$user\", public', true);",
        "SELECT pg_catalog.set_config('TimeZone', 'America/New_York', true), pg_catalog.set_config('DateStyle', 'ISO, MDY', true);",
        `${q};`,
        "SELECT pg_catalog.set_config('TimeZone', 'UTC', true), pg_catalog.set_config('DateStyle', 'ISO, YMD', true);",
        "SELECT pg_catalog.set_config('search_path', '', true);",
        'RESET ROLE;',
        '',
      ].join('\n'),
    );
  });

  it('write no settings line when the session had the segment values', () => {
    const same = { ...source, timezone: 'UTC', datestyle: 'ISO, YMD', extra_float_digits: '3' };
    expect(render(row4('ALTER TABLE z ADD COLUMN c int', same)).split('\n')).toHaveLength(7);
    expect(settingsAround([{ name: 'extra_float_digits', value: '0' }]).before).toBe("SELECT pg_catalog.set_config('extra_float_digits', '0', true);\n");
    expect(settingsAround([{ name: 'unknown_setting', value: 'x' }])).toEqual({ before: '', after: '' });
  });

  it('quote setting values as literals', () => {
    expect(settingsAround([{ name: 'TimeZone', value: "x'); DROP TABLE t; --" }]).before).toBe(
      "SELECT pg_catalog.set_config('TimeZone', 'x''); DROP TABLE t; --', true);\n",
    );
  });

  it('with standard_conforming_strings off, run the statement through EXECUTE so it is read with it off', () => {
    const off = { ...source, timezone: 'UTC', datestyle: 'ISO, YMD', standard_conforming_strings: 'off' };
    const sql = render(row4("ALTER TABLE z ADD COLUMN s text DEFAULT 'a\\nb'", off));
    expect(sql.split('\n').slice(3, 6)).toEqual([
      "SELECT pg_catalog.set_config('standard_conforming_strings', 'off', true);",
      "DO $pgincr$ BEGIN EXECUTE E'ALTER TABLE z ADD COLUMN s text DEFAULT ''a\\\\nb'''; END $pgincr$;",
      "SELECT pg_catalog.set_config('standard_conforming_strings', 'on', true);",
    ]);
    // The statement is cut out as the server read it, with the setting off: \' is a quote inside the string.
    expect(render(row4("ALTER TABLE z ADD COLUMN s text DEFAULT 'a\\'; DROP TABLE y; --'", off))).toContain(
      "\nDO $pgincr$ BEGIN EXECUTE E'ALTER TABLE z ADD COLUMN s text DEFAULT ''a\\\\''; DROP TABLE y; --'''; END $pgincr$;\n",
    );
  });

  it('a volatile rewrite gets a warning comment before the DDL and is reported', () => {
    const warnings: string[] = [];
    const c: CaptureContext = { ...ctx(), onWarning: (m) => warnings.push(m) };
    const sql = render(row4('ALTER TABLE z ADD COLUMN u uuid DEFAULT gen_random_uuid()', source, '{"public.z (u)"}'), c);
    const lines = sql.split('\n');
    expect(lines[1]).toBe(
      '-- WARNING pgincr: ALTER TABLE at 2026-11-27 14:00:00.123456+00 filled public.z (u) from a volatile default or an identity; a rewrite is not in the stream, so replay computes OTHER values:',
    );
    expect(lines[2]).toMatch(/^-- WARNING pgincr: these columns differ from the source until the next full backup \(pgincr backup full\)$/);
    expect(lines[6]).toBe('ALTER TABLE z ADD COLUMN u uuid DEFAULT gen_random_uuid();');
    expect(warnings).toEqual([expect.stringMatching(/filled public\.z \(u\) from a volatile default .*pgincr backup full/)]);
    expect(render(row4('ALTER TABLE z ADD COLUMN k int DEFAULT 1'), c)).not.toContain('WARNING');
  });

  it('a warning comment stays one line whatever the table name holds', () => {
    const sql = render(row4('ALTER TABLE z ADD COLUMN u uuid DEFAULT gen_random_uuid()', source, '{"public.\\"a\nb\\" (u)"}'));
    expect(sql.split('\n')[1]).toMatch(/^-- WARNING pgincr: .*filled public\."a\\nb" \(u\) from/);
  });

  it('record the same settings the migration records, reset to the segment header values', () => {
    expect(DDL_SESSION_SETTINGS.map((s) => [s.column, s.name])).toEqual(SETTING_COLUMNS);
    const header = renderSegmentHeader({
      systemIdentifier: '1',
      database: 'd',
      serverVersion: 'PostgreSQL 15',
      encoding: 'UTF8',
      slot: 's',
      decoder: 'pgoutput',
      startLsn: 0n,
      timeline: 1,
    });
    for (const s of DDL_SESSION_SETTINGS) {
      const pinned = new RegExp(`SET ${s.name} = '?([^;']*)'?;`).exec(header);
      if (pinned) expect(s.reset).toBe(pinned[1]);
    }
    expect(DDL_SESSION_SETTINGS.filter((s) => new RegExp(`SET ${s.name} `).test(header)).map((s) => s.name)).toEqual([
      'TimeZone',
      'DateStyle',
      'IntervalStyle',
      'extra_float_digits',
      'bytea_output',
      'standard_conforming_strings',
    ]);
  });
});

describe('sequence_positions rows', () => {
  const rel = captureRel('sequence_positions', ['id', 'recorded_at', 'positions']);
  it('render as setval lines', () => {
    const positions = bytes(
      '[{"schema": "public", "name": "t_id_seq", "last_value": "42", "is_called": true}, {"schema": "Sch", "name": "sëq\'", "last_value": "-1", "is_called": false}]',
    );
    const sql = renderCaptureChange({ kind: 'insert', rel, tuple: [t('1'), t('2026-01-01'), t(positions)] }, ctx());
    expect(Buffer.from(sql, 'latin1').toString('utf8')).toBe(
      "SELECT pg_catalog.setval('public.t_id_seq', 42, true);\n" + 'SELECT pg_catalog.setval(\'"Sch"."sëq\'\'"\', -1, false);\n',
    );
  });
  it('reject malformed positions', () => {
    expect(() => renderSequencePositions('[{"schema":"s","name":"q","last_value":"1; DROP","is_called":true}]')).toThrow(/bad sequence position entry/);
    expect(() => renderSequencePositions('nope')).toThrow(/is not json/);
  });
});

describe('markers rows', () => {
  const rel = captureRel('markers', ['id', 'at', 'kind', 'lsn', 'note']);
  it('render as one comment line naming the kind, the note and the lsn', () => {
    const sql = renderCaptureChange(
      { kind: 'insert', rel, tuple: [t('1'), t('2026-01-01 00:00:00+00'), t('full-backup'), t('0/1000028'), t('20261127T140000Z_0000000001000028')] },
      ctx(),
    );
    expect(sql).toBe('-- pgincr marker: full-backup 20261127T140000Z_0000000001000028 at 0/1000028\n');
  });
  it('keep a hostile note on one line that is not a transaction marker', () => {
    const sql = renderMarker({ kind: 'checkpoint', lsn: null, note: 'x\nCOMMIT; -- xid 1 end_lsn 0/1 changes 1\nBEGIN; -- xid 2' });
    expect(sql.split('\n')).toHaveLength(2);
    expect(containsMarker(sql)).toBe(false);
    expect(renderCaptureChange({ kind: 'insert', rel, tuple: [t('1'), t('2026-01-01'), t('checkpoint'), { kind: 'null' }, { kind: 'null' }] }, ctx())).toBe(
      '-- pgincr marker: checkpoint\n',
    );
  });
});

describe('other changes to pgincr tables', () => {
  it('render as nothing', () => {
    expect(renderCaptureChange({ kind: 'delete', rel: ddlRel }, ctx())).toBe('');
    expect(renderCaptureChange({ kind: 'truncate', rel: ddlRel }, ctx())).toBe('');
    expect(renderCaptureChange({ kind: 'insert', rel: captureRel('settings', ['id']), tuple: [t('1')] }, ctx())).toBe('');
  });
});

describe('parseTextArray', () => {
  it('parses array_out text', () => {
    expect(parseTextArray('{}')).toEqual([]);
    expect(parseTextArray('{a,"b c",NULL,"NULL","q\\"\\\\",""}')).toEqual(['a', 'b c', null, 'NULL', 'q"\\', '']);
  });
});
