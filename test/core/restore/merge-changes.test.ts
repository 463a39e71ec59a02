import fc from 'fast-check';
import { DdlOrdinals, initDdlParser } from '../../../src/core/ddl/extract';
import type { Tuple } from '../../../src/core/decoding/model';
import { parseChangeLine, rowValue, splitTable, unquoteIdent } from '../../../src/core/restore/change-lines';
import { batchTables, parseBatch, planBatch, rewriteBatch, type Step, type TableShape } from '../../../src/core/restore/merge-changes';
import { renderDdlHistoryRow, renderMarker, type DdlHistoryRow } from '../../../src/core/sql/capture-tables';
import { renderDelete, renderInsert, renderUpdate, type RelationInfo } from '../../../src/core/sql/render';

beforeAll(async () => {
  await initDdlParser();
});

function rel(schema: string, table: string, cols: string[], keys: string[], extra: Partial<RelationInfo> = {}): RelationInfo {
  return {
    relationId: 1,
    schema,
    table,
    replicaIdentity: 'd',
    columns: cols.map((name) => ({ name, typeOid: 25, typeMod: -1, isKey: keys.includes(name) })),
    identityAlways: new Set(),
    generated: new Set(),
    ...extra,
  };
}
const row = (...vs: Array<string | null>): Tuple => vs.map((v) => (v === null ? { kind: 'null' } : { kind: 'text', value: v }));
const line = (sql: string) => sql.trimEnd();

const items = rel('public', 'items', ['id', 'name', 'qty'], ['id']);
const pair = rel('public', 'pair', ['a', 'b', 'v'], ['a', 'b']);
const full = rel('public', 'dup', ['x', 'y'], [], { replicaIdentity: 'f' });
const loud = rel('public', 'loud', ['id', 'v'], ['id']);
const odd = rel('we"ird', 'a. b (', ['id', 'select'], ['id']);
const t2 = rel('public', 't2', ['id', 'name'], ['id']);
const fullKeyed = rel('public', 'fk', ['id', 'n', 'j'], [], { replicaIdentity: 'f' });

const SHAPES = new Map<string, TableShape>([
  [
    'public.items',
    {
      quiet: true,
      key: ['id'],
      columns: new Map([
        ['id', 'bigint'],
        ['name', 'text'],
        ['qty', 'integer'],
      ]),
    },
  ],
  [
    'public.pair',
    {
      quiet: true,
      key: ['a', 'b'],
      columns: new Map([
        ['a', 'integer'],
        ['b', 'text'],
        ['v', 'jsonb'],
      ]),
    },
  ],
  [
    'public.dup',
    {
      quiet: true,
      key: null,
      columns: new Map([
        ['x', 'text'],
        ['y', 'text'],
      ]),
    },
  ],
  [
    'public.loud',
    {
      quiet: false,
      key: ['id'],
      columns: new Map([
        ['id', 'integer'],
        ['v', 'text'],
      ]),
    },
  ],
  [
    '"we""ird"."a. b ("',
    {
      quiet: true,
      key: ['id'],
      columns: new Map([
        ['id', 'integer'],
        ['select', 'text'],
      ]),
    },
  ],
  [
    'public.t2',
    {
      quiet: true,
      key: ['id'],
      columns: new Map([
        ['id', 'integer'],
        ['name', 'text'],
      ]),
    },
  ],
  [
    'public.fk',
    {
      quiet: true,
      key: null,
      fullKey: { columns: ['id'], typeOids: [23] },
      columns: new Map([
        ['id', 'integer'],
        ['n', 'numeric'],
        ['j', 'json'],
      ]),
    },
  ],
]);
const shapeOf = (t: string) => SHAPES.get(t);

const ins = (r: RelationInfo, ...vs: Array<string | null>) => line(renderInsert(r, row(...vs)));
const upd = (r: RelationInfo, ...vs: Array<string | null>) => line(renderUpdate(r, row(...vs)));
const del = (r: RelationInfo, ...vs: Array<string | null>) => line(renderDelete(r, { kind: 'key', tuple: row(...vs) }));
const rewrite = (lines: string[], options = {}) =>
  rewriteBatch(parseBatch([{ sql: `${lines.join('\n')}\n` }]), shapeOf, options)
    .split('\n')
    .slice(0, -1);

describe('parseChangeLine', () => {
  it('reads the renderer forms, names and literals as written', () => {
    const i = parseChangeLine(ins(odd, "it's\n", null));
    expect(i).toMatchObject({ kind: 'insert', table: '"we""ird"."a. b ("', columns: ['id', 'select'], row: "(E'it''s\\n', NULL)" });
    expect(rowValue((i as { row: string }).row, 1)).toBe('NULL');
    expect(splitTable('"we""ird"."a. b ("')).toEqual({ schema: 'we"ird', table: 'a. b (' });
    expect(parseChangeLine(upd(items, '1', "a, b = 'c' WHERE", null))).toMatchObject({
      kind: 'update',
      setColumns: ['name', 'qty'],
      setValues: ["'a, b = ''c'' WHERE'", 'NULL'],
      keyColumns: ['id'],
      keyValues: ["'1'"],
    });
    expect(parseChangeLine(del(pair, '1', 'x', null))).toMatchObject({ kind: 'delete', keyColumns: ['a', 'b'], keyValues: ["'1'", "'x'"] });
  });

  it.each([
    ['FULL identity without conditions', 'DELETE FROM ONLY public.dup WHERE ctid = (SELECT ctid FROM ONLY public.dup WHERE true LIMIT 1);'],
    ['FULL identity, another table inside', "DELETE FROM ONLY public.dup WHERE ctid = (SELECT ctid FROM ONLY public.items WHERE x = '1'::integer LIMIT 1);"],
    [
      'FULL identity, a column twice',
      "DELETE FROM ONLY public.dup WHERE ctid = (SELECT ctid FROM ONLY public.dup WHERE x IS NULL AND format('%s', x) = 'a' LIMIT 1);",
    ],
    ['FULL identity, = NULL', 'DELETE FROM ONLY public.dup WHERE ctid = (SELECT ctid FROM ONLY public.dup WHERE x = NULL::integer LIMIT 1);'],
    ['IS NULL key', 'DELETE FROM ONLY public.items WHERE id IS NULL;'],
    ['= NULL key', "UPDATE ONLY public.items SET name = 'x' WHERE id = NULL;"],
    ['no-op SET', "UPDATE ONLY public.items SET name = name WHERE id = '1';"],
    ['partitioned (no ONLY)', "DELETE FROM public.items WHERE id = '1';"],
    ['unqualified', "INSERT INTO items (id) VALUES ('1');"],
    ['unquoted number', 'INSERT INTO public.items (id) VALUES (1);'],
    ['trailing comment', "DELETE FROM ONLY public.items WHERE id = '1'; -- x"],
    ['two statements', "DELETE FROM ONLY public.items WHERE id = '1'; DELETE FROM ONLY public.items WHERE id = '2';"],
    ['unknown E escape', "INSERT INTO public.items (id) VALUES (E'\\t');"],
    ['unterminated literal', "INSERT INTO public.items (id) VALUES ('1);"],
    ['more values than columns', "INSERT INTO public.items (id) VALUES ('1', '2');"],
    ['DEFAULT VALUES', 'INSERT INTO public.items DEFAULT VALUES;'],
    ['OR in WHERE', "DELETE FROM ONLY public.items WHERE id = '1' OR id = '2';"],
  ])('is null for %s', (_what, text) => {
    expect(parseChangeLine(text)).toBeNull();
  });

  it('reads FULL identity lines: typed, typed with a text recheck, text alone (older segments too), IS NULL', () => {
    const typed = { ...fullKeyed, columns: fullKeyed.columns.map((c, i) => ({ ...c, typeOid: [23, 1700, 114][i]! })) };
    const u = parseChangeLine(line(renderUpdate(typed, row('1', '2.50', null), { kind: 'old', tuple: row('1', '1.0', '{"a": 1}') })));
    expect(u).toMatchObject({
      kind: 'update',
      table: 'public.fk',
      setColumns: ['n', 'j'],
      setValues: ["'2.50'", 'NULL'],
      keyColumns: ['id', 'n', 'j'],
      keyValues: ["'1'", "'1.0'", '\'{"a": 1}\''],
      full: [
        { typed: 'integer', text: false },
        { typed: 'numeric', text: true },
        { typed: null, text: true },
      ],
    });
    const old =
      "DELETE FROM ONLY public.fk WHERE ctid = (SELECT ctid FROM ONLY public.fk WHERE format('%s', id) = '1' AND n IS NULL AND format('%s', j) = 'x' LIMIT 1);";
    expect(parseChangeLine(old)).toMatchObject({
      kind: 'delete',
      keyColumns: ['id', 'n', 'j'],
      keyValues: ["'1'", 'NULL', "'x'"],
      full: [
        { typed: null, text: true },
        { typed: null, text: false },
        { typed: null, text: true },
      ],
    });
    const types = parseChangeLine(
      'DELETE FROM ONLY public.fk WHERE ctid = (SELECT ctid FROM ONLY public.fk WHERE id = \'1\'::double precision AND n = \'{a}\'::"My S"."t AND x"[] LIMIT 1);',
    );
    expect(types).toMatchObject({
      full: [
        { typed: 'double precision', text: false },
        { typed: '"My S"."t AND x"[]', text: false },
      ],
    });
  });

  it('reuses a head for the next line only when that line really starts with it', () => {
    const lines = [ins(items, '1', 'a', '1'), "INSERT INTO public.items (id, name, qty) VALUES ('2', 'b');", ins(items, '3', 'c', '3')];
    const parsed = parseBatch([{ sql: `${lines.join('\n')}\n` }]);
    expect(parsed.map((l) => l.kind)).toEqual(['insert', 'text', 'insert']);
  });
});

describe('rewriteBatch: golden cases', () => {
  it('merges inserts, updates and deletes of a keyed quiet table into one statement each, by rounds', () => {
    const out = rewrite([
      upd(items, '7', 'g', '7'),
      ins(items, '1', 'a', '1'),
      del(items, '5', null, null),
      upd(items, '8', 'h', null),
      ins(items, '2', 'b', null),
      upd(items, '8', 'h2', '8'),
      del(items, '7', null, null),
      ins(items, '7', 'g2', '7'),
    ]);
    expect(out).toEqual([
      // round 0: keys 7, 1, 5, 8, 2 once each; DELETEs, UPDATEs, INSERTs
      "DELETE FROM ONLY public.items WHERE id = '5';",
      "UPDATE ONLY public.items AS t SET name = v.s0, qty = v.s1 FROM (VALUES ('7'::bigint, 'g'::text, '7'::integer), ('8'::bigint, 'h'::text, NULL::integer)) " +
        "AS v(k0, s0, s1) WHERE t.id = v.k0 AND t.id IN ('7'::bigint, '8'::bigint);",
      "INSERT INTO public.items (id, name, qty) VALUES ('1', 'a', '1'), ('2', 'b', NULL);",
      // round 1: the second change of keys 8 and 7
      "DELETE FROM ONLY public.items WHERE id = '7';",
      "UPDATE ONLY public.items SET name = 'h2', qty = '8' WHERE id = '8';",
      // round 2: key 7 re-inserted after its DELETE
      "INSERT INTO public.items (id, name, qty) VALUES ('7', 'g2', '7');",
    ]);
  });

  it('folds an UPDATE or DELETE into the pending INSERT of its row', () => {
    expect(
      rewrite([
        ins(items, '1', 'a', '1'),
        ins(items, '2', 'b', null),
        upd(items, '1', "it's", '2'),
        ins(items, '3', 'c', '3'),
        upd(items, '2', 'b2', '4'),
        upd(items, '1', 'a3', null),
        del(items, '3', null, null),
        del(items, '6', null, null),
        ins(items, '3', 'c2', '9'),
      ]),
    ).toEqual([
      "DELETE FROM ONLY public.items WHERE id = '6';",
      "INSERT INTO public.items (id, name, qty) VALUES ('1', 'a3', NULL), ('2', 'b2', '4');",
      // key 3: its first INSERT dropped by the DELETE; the re-INSERT comes a round later
      "INSERT INTO public.items (id, name, qty) VALUES ('3', 'c2', '9');",
    ]);
  });

  it('composite keys: UPDATE and DELETE joined on every key column', () => {
    expect(rewrite([upd(pair, '1', 'x', '{"a": 1}'), upd(pair, '1', 'y', null), del(pair, '2', 'x', null), del(pair, '2', 'y', null)])).toEqual([
      "DELETE FROM ONLY public.pair AS t USING (VALUES ('2'::integer, 'x'::text), ('2'::integer, 'y'::text)) AS v(k0, k1) WHERE t.a = v.k0 AND t.b = v.k1;",
      "UPDATE ONLY public.pair AS t SET v = v.s0 FROM (VALUES ('1'::integer, 'x'::text, '{\"a\": 1}'::jsonb), ('1'::integer, 'y'::text, NULL::jsonb)) AS v(k0, k1, s0) WHERE t.a = v.k0 AND t.b = v.k1;",
    ]);
  });

  it('keeps in place: key changes, other SET lists apart, tables that are not quiet, unknown tables, and everything around them', () => {
    const keyChange = "UPDATE ONLY public.items SET id = '9' WHERE id = '1';";
    const lines = [
      ins(items, '1', 'a', '1'),
      keyChange,
      ins(items, '2', 'b', '2'),
      ins(loud, '1', 'x'),
      ins(loud, '2', 'x'),
      ins(items, '3', 'c', '3'),
      "INSERT INTO public.nowhere (id) VALUES ('1');",
      ins(items, '4', 'd', '4'),
      line(renderMarker({ kind: 'checkpoint', lsn: '0/1', note: null })),
      ins(items, '5', 'e', '5'),
    ];
    expect(rewrite(lines)).toEqual(lines);
    // With insert runs allowed (no INSERT trigger anywhere), the other table's consecutive INSERTs merge in order.
    expect(rewrite(lines, { insertRuns: true })[3]).toBe("INSERT INTO public.loud (id, v) VALUES ('1', 'x'), ('2', 'x');");
  });

  it('an INSERT that does not name every column stays in place (a default could run)', () => {
    const partial = "INSERT INTO public.items (id, name) VALUES ('1', 'a');";
    expect(rewrite([partial, ins(items, '2', 'b', '2'), ins(items, '3', 'c', '3')])).toEqual([
      partial,
      "INSERT INTO public.items (id, name, qty) VALUES ('2', 'b', '2'), ('3', 'c', '3');",
    ]);
  });

  it('FULL identity changes on a target with a key: joined on the key, every condition of the line kept', () => {
    const typed = { ...fullKeyed, columns: fullKeyed.columns.map((c, i) => ({ ...c, typeOid: [23, 1700, 114][i]! })) };
    const u = (id: string, n: string) => line(renderUpdate(typed, row(id, n, 'x'), { kind: 'old', tuple: row(id, '1.0', 'x') }));
    const d = (id: string) => line(renderDelete(typed, { kind: 'old', tuple: row(id, null, 'x') }));
    expect(rewrite([u('1', '2'), u('2', '3'), d('3'), u('1', '4')])).toEqual([
      "DELETE FROM ONLY public.fk AS t USING (VALUES ('3'::integer, '3'::integer, 'x')) AS v(k0, o0, p2) WHERE t.id = v.k0 AND t.id = v.o0 AND t.n IS NULL AND format('%s', t.j) = v.p2 AND t.id IN ('3'::integer);",
      "UPDATE ONLY public.fk AS t SET n = v.s0 FROM (VALUES ('1'::integer, '1'::integer, '1.0'::numeric, '1.0', 'x', '2'::numeric), ('2'::integer, '2'::integer, '1.0'::numeric, '1.0', 'x', '3'::numeric)) AS v(k0, o0, o1, p1, p2, s0)" +
        " WHERE t.id = v.k0 AND t.id = v.o0 AND t.n = v.o1 AND format('%s', t.n) = v.p1 AND format('%s', t.j) = v.p2 AND t.id IN ('1'::integer, '2'::integer);",
      "UPDATE ONLY public.fk AS t SET n = v.s0 FROM (VALUES ('1'::integer, '1'::integer, '1.0'::numeric, '1.0', 'x', '4'::numeric)) AS v(k0, o0, o1, p1, p2, s0)" +
        " WHERE t.id = v.k0 AND t.id = v.o0 AND t.n = v.o1 AND format('%s', t.n) = v.p1 AND format('%s', t.j) = v.p2 AND t.id IN ('1'::integer);",
    ]);
    // older segments' text form, merged alike; a NULL key value, a key typed as another type and a pending INSERT of the key stay as written
    const old =
      "DELETE FROM ONLY public.fk WHERE ctid = (SELECT ctid FROM ONLY public.fk WHERE format('%s', id) = '5' AND n IS NULL AND format('%s', j) = 'x' LIMIT 1);";
    expect(rewrite([old])).toEqual([
      "DELETE FROM ONLY public.fk AS t USING (VALUES ('5'::integer, '5', 'x')) AS v(k0, p0, p2) WHERE t.id = v.k0 AND format('%s', t.id) = v.p0 AND t.n IS NULL AND format('%s', t.j) = v.p2 AND t.id IN ('5'::integer);",
    ]);
    const nullKey = 'DELETE FROM ONLY public.fk WHERE ctid = (SELECT ctid FROM ONLY public.fk WHERE id IS NULL LIMIT 1);';
    const otherType = "DELETE FROM ONLY public.fk WHERE ctid = (SELECT ctid FROM ONLY public.fk WHERE id = '5'::bigint LIMIT 1);";
    expect(rewrite([nullKey, otherType])).toEqual([nullKey, otherType]);
    // after the INSERT of its key: not folded into it, applied in the next round
    const insert = ins(fullKeyed, '7', '1.0', 'x');
    expect(rewrite([insert, d('7')])).toEqual([
      insert,
      "DELETE FROM ONLY public.fk AS t USING (VALUES ('7'::integer, '7'::integer, 'x')) AS v(k0, o0, p2) WHERE t.id = v.k0 AND t.id = v.o0 AND t.n IS NULL AND format('%s', t.j) = v.p2 AND t.id IN ('7'::integer);",
    ]);
  });

  it('a table without a usable key: its INSERTs merge in order, its UPDATEs and DELETEs stay in place', () => {
    const fullDelete = line(renderDelete(full, { kind: 'old', tuple: row('a', 'b') }));
    expect(rewrite([ins(full, 'a', 'b'), ins(items, '1', 'a', '1'), ins(full, 'a', 'b'), fullDelete, ins(full, 'c', null)])).toEqual([
      "INSERT INTO public.dup (x, y) VALUES ('a', 'b'), ('a', 'b');",
      "INSERT INTO public.items (id, name, qty) VALUES ('1', 'a', '1');",
      fullDelete,
      "INSERT INTO public.dup (x, y) VALUES ('c', NULL);",
    ]);
  });

  it('merges across source transactions, but never into or across a verbatim (DDL) body', () => {
    const ddl = renderDdlHistoryRow(
      {
        occurredAt: '2026-01-01 00:00:00+00',
        roleName: 'postgres',
        searchPath: '',
        commandTag: 'CREATE TABLE',
        objectIdentities: ['public.x'],
        query: `CREATE FUNCTION f() RETURNS void LANGUAGE sql AS $$\n${ins(items, '7', 'x', '7')}\n$$`,
      },
      { ordinals: new DdlOrdinals(), ddlInFunction: 'fail' },
    );
    const bodies = [
      { sql: `${ins(items, '1', 'a', '1')}\n` },
      { sql: `${ins(items, '2', 'b', '2')}\n` },
      { sql: `${ins(items, '3', 'c', '3')}\n${ddl}${ins(items, '4', 'd', '4')}\n`, verbatim: true },
      { sql: `${ins(items, '5', 'e', '5')}\n` },
    ];
    const out = rewriteBatch(parseBatch(bodies), shapeOf);
    expect(out).toBe(`INSERT INTO public.items (id, name, qty) VALUES ('1', 'a', '1'), ('2', 'b', '2');\n${bodies[2]!.sql}${ins(items, '5', 'e', '5')}\n`);
    // DDL blocks inside a body that is not verbatim are copied whole too.
    expect(rewriteBatch(parseBatch([{ sql: `${ins(items, '1', 'a', '1')}\n${ddl}${ins(items, '2', 'b', '2')}\n` }]), shapeOf)).toBe(
      `${ins(items, '1', 'a', '1')}\n${ddl}${ins(items, '2', 'b', '2')}\n`,
    );
    expect([...batchTables(parseBatch(bodies)).keys()]).toEqual(['public.items']);
  });

  it('caps statements at maxRows rows and maxChars characters', () => {
    const lines = ['1', '2', '3', '4', '5'].map((id) => del(items, id, null, null));
    expect(rewrite(lines, { maxRows: 2 })).toEqual([
      "DELETE FROM ONLY public.items WHERE id IN ('1'::bigint, '2'::bigint);",
      "DELETE FROM ONLY public.items WHERE id IN ('3'::bigint, '4'::bigint);",
      lines[4],
    ]);
    expect(rewrite(lines, { maxChars: 1 })).toEqual(lines);
  });
});

// ---- DDL blocks: copied byte for byte, even when their lines look exactly like mergeable changes ----

function ddlBlock(query: string, commandTag: string, extra: Partial<DdlHistoryRow> = {}): string {
  return renderDdlHistoryRow(
    { occurredAt: '2026-11-27 14:00:00+00', roleName: 'alice', searchPath: '"$user", public', commandTag, objectIdentities: ['public.f'], query, ...extra },
    { ordinals: new DdlOrdinals(), ddlInFunction: 'warn' },
  );
}
const TRAP = "INSERT INTO public.t2 (id, name) VALUES ('1', 'x');\nDELETE FROM ONLY public.t2 WHERE id = '2';";
const DDL_CASES: Array<{ what: string; query: string; tag: string; extra?: Partial<DdlHistoryRow>; rest?: boolean }> = [
  { what: 'a table', query: 'CREATE TABLE t (id int)', tag: 'CREATE TABLE' },
  { what: 'a $$ function body', query: `CREATE FUNCTION f() RETURNS void LANGUAGE sql AS $$\n${TRAP}\n$$`, tag: 'CREATE FUNCTION' },
  {
    what: 'a body holding the end line, empty search_path',
    query: `CREATE FUNCTION f() RETURNS void LANGUAGE sql AS $f$\nSELECT pg_catalog.set_config('search_path', '', true);\n${TRAP}\n$f$`,
    tag: 'CREATE FUNCTION',
    extra: { searchPath: '' },
  },
  {
    what: 'BEGIN ATOMIC',
    tag: 'CREATE FUNCTION',
    rest: true,
    query: `CREATE FUNCTION g() RETURNS void LANGUAGE sql BEGIN ATOMIC\nSELECT 1;\nSELECT pg_catalog.set_config('search_path', '', true);\n${TRAP}\nEND`,
  },
  { what: 'a multi-action rule', query: `CREATE RULE r AS ON INSERT TO public.a DO ALSO (\n${TRAP}\n)`, tag: 'CREATE RULE' },
  { what: 'a literal', query: `COMMENT ON TABLE t IS E'\\';\n${TRAP.replace(/'/g, "''")}'`, tag: 'COMMENT' },
  {
    what: 'session settings and a rewrite warning',
    query: 'ALTER TABLE t ADD c timestamptz DEFAULT now()',
    tag: 'ALTER TABLE',
    extra: { settings: [{ name: 'TimeZone', value: 'Europe/Paris' }], volatileRewrites: ['public.t (c)'] },
  },
  { what: 'DDL in a function', query: `DO $$BEGIN\n${TRAP}\nCREATE TABLE x ();\nEND$$`, tag: 'CREATE TABLE' },
];
const t2ins = (id: string) => `${ins(t2, id, 'x')}\n`;

describe('rewriteBatch: DDL blocks', () => {
  it.each(DDL_CASES.filter((c) => !c.rest))('never touches DDL ($what) and merges around it', ({ query, tag, extra }) => {
    const block = ddlBlock(query, tag, extra);
    expect(rewriteBatch(parseBatch([{ sql: t2ins('1') + t2ins('2') + block + t2ins('3') + t2ins('4') }]), shapeOf)).toBe(
      "INSERT INTO public.t2 (id, name) VALUES ('1', 'x'), ('2', 'x');\n" + block + "INSERT INTO public.t2 (id, name) VALUES ('3', 'x'), ('4', 'x');\n",
    );
  });

  it('after a BEGIN ATOMIC body, leaves the rest of the transaction alone', () => {
    const c = DDL_CASES.find((d) => d.rest)!;
    const block = ddlBlock(c.query, c.tag);
    expect(block).toContain('BEGIN ATOMIC');
    const tail = t2ins('3') + t2ins('4');
    expect(rewriteBatch(parseBatch([{ sql: t2ins('1') + t2ins('2') + block + tail }]), shapeOf)).toBe(
      "INSERT INTO public.t2 (id, name) VALUES ('1', 'x'), ('2', 'x');\n" + block + tail,
    );
  });
});

// ---- property: applying the planned statements gives the state of the lines as written ----

const TABLES = [items, pair, full, loud, odd];
type Db = Map<string, Map<string, Record<string, string>>>;

/** Applies one change to a model database; rows keyed by their key values as written (full: by position). */
function applyChange(db: Db, text: string, seen: string[]): void {
  const c = parseChangeLine(text);
  if (!c) {
    seen.push(`${text} @ ${snapshot(db)}`); // text, or a FULL-identity change: stays in place; the state here must match
    return;
  }
  const shape = SHAPES.get(c.table)!;
  const rows = db.get(c.table) ?? new Map<string, Record<string, string>>();
  db.set(c.table, rows);
  if (c.kind === 'insert') {
    const values = c.columns.map((_, i) => rowValue(c.row, i));
    const r = Object.fromEntries(c.columns.map((col, i) => [col, values[i]!]));
    const key = shape.key ? shape.key.map((k) => r[k]).join('\n') : `#${rows.size}`;
    if (rows.has(key)) throw new Error(`duplicate key ${key}`);
    rows.set(key, r);
    return;
  }
  const key = shape.key!.map((k) => c.keyValues[c.keyColumns.map(unquoteIdent).indexOf(k)]).join('\n');
  const r = rows.get(key);
  if (c.kind === 'delete' || !r) {
    rows.delete(key);
    return;
  }
  c.setColumns.forEach((col, i) => (r[unquoteIdent(col)] = c.setValues[i]!));
  const moved = shape.key!.map((k) => r[k]).join('\n');
  if (moved !== key) {
    rows.delete(key);
    rows.set(moved, r);
  }
}

function snapshot(db: Db): string {
  const tables = [...db].filter(([, rows]) => rows.size > 0).sort();
  return JSON.stringify(tables.map(([t, rows]) => [t, [...rows.values()].map((r) => JSON.stringify(r)).sort()]));
}

/** Applies a step; the changes of one statement in reverse order, to show their order cannot matter. */
function applyStep(db: Db, step: Step, seen: string[]): void {
  if (step.kind === 'text') {
    applyChange(db, step.text, seen);
    return;
  }
  if (step.kind !== 'insert' || SHAPES.get(step.changes[0]!.table)!.key !== null) {
    const keys = step.changes.map((c) => (c.kind === 'insert' ? rowValue(c.row, 0) : c.keyValues.join('\n')));
    expect(new Set(keys).size).toBe(keys.length);
  }
  for (const c of [...step.changes].reverse()) applyChange(db, c.line, seen);
}

const ID = fc.constantFrom('1', '2', '3');
const VALUE = fc.oneof(fc.constant(null), fc.string({ unit: fc.constantFrom('a', "'", '\n', ',', ' ', '\\'), maxLength: 4 }));
const OP = fc.record({ table: fc.nat(TABLES.length - 1), op: fc.constantFrom('insert', 'update', 'delete', 'rekey', 'text'), id: ID, id2: ID, v: VALUE });

/** Valid source histories: an INSERT only of an absent key, UPDATE/DELETE only of a present row. */
function history(ops: Array<typeof OP extends fc.Arbitrary<infer T> ? T : never>): string[] {
  const present = new Map<number, Set<string>>(TABLES.map((_, i) => [i, new Set()]));
  const out: string[] = [];
  for (const { table, op, id, id2, v } of ops) {
    const r = TABLES[table]!;
    const keys = present.get(table)!;
    const k = r === full ? `${id}${keys.size}` : id;
    const tuple = r.columns.map((c, i) => (c.isKey ? (c.name === 'b' ? `b${k}` : k) : i === r.columns.length - 1 ? v : 'x'));
    if (op === 'text') out.push(line(renderMarker({ kind: 'k', lsn: '0/1', note: `${id}` })));
    else if (op === 'insert' && !keys.has(k)) {
      out.push(ins(r, ...tuple));
      keys.add(k);
    } else if (r !== full && keys.has(k) && op === 'update') out.push(upd(r, ...tuple));
    else if (r !== full && keys.has(k) && op === 'delete') {
      out.push(del(r, ...tuple));
      keys.delete(k);
    } else if (r === items && keys.has(k) && op === 'rekey' && !keys.has(id2)) {
      out.push(`UPDATE ONLY public.items SET id = '${id2}' WHERE id = '${k}';`);
      keys.delete(k);
      keys.add(id2);
    }
  }
  return out;
}

describe('planBatch: property', () => {
  it('the planned statements, each in any order, reach the state of the lines as written, at every line kept in place too', () => {
    fc.assert(
      fc.property(fc.array(OP, { maxLength: 40 }), fc.integer({ min: 1, max: 4 }), fc.boolean(), (ops, maxRows, insertRuns) => {
        const lines = history(ops);
        const expectedSeen: string[] = [];
        const expected: Db = new Map();
        for (const l of lines) applyChange(expected, l, expectedSeen);
        const bodies = [lines.slice(0, 7), lines.slice(7)].map((b) => ({ sql: b.map((l) => `${l}\n`).join('') }));
        const steps = planBatch(parseBatch(bodies), shapeOf, { maxRows, insertRuns });
        const seen: string[] = [];
        const actual: Db = new Map();
        for (const step of steps) applyStep(actual, step, seen);
        expect(snapshot(actual)).toBe(snapshot(expected));
        expect(seen).toEqual(expectedSeen);
        expect(steps.reduce((n, s) => n + (s.kind === 'text' ? 1 : s.changes.length), 0)).toBeLessThanOrEqual(lines.length);
      }),
      { numRuns: 300 },
    );
  });
});
