import fc from 'fast-check';
import { DdlOrdinals, initDdlParser } from '../../../src/core/ddl/extract';
import type { Tuple } from '../../../src/core/decoding/model';
import { mergeInserts, parseInsertLine } from '../../../src/core/restore/merge-inserts';
import { renderDdlHistoryRow, renderMarker, renderSequencePositions, type DdlHistoryRow } from '../../../src/core/sql/capture-tables';
import { renderDelete, renderInsert, renderTruncate, renderUpdate, type RelationInfo } from '../../../src/core/sql/render';

beforeAll(async () => {
  await initDdlParser();
});

function rel(schema: string, table: string, cols: string[], extra: Partial<RelationInfo> = {}): RelationInfo {
  return {
    relationId: 1, schema, table, replicaIdentity: 'd',
    columns: cols.map((name, i) => ({ name, typeOid: 25, typeMod: -1, isKey: i === 0 })),
    identityAlways: new Set(), generated: new Set(), ...extra,
  };
}
const row = (...vs: Array<string | null>): Tuple => vs.map((v) => (v === null ? { kind: 'null' } : { kind: 'text', value: v }));

const items = rel('public', 'items', ['id', 'name']);
const ins = (id: string, name: string | null = 'x') => renderInsert(items, row(id, name));

function ddl(query: string, commandTag: string, extra: Partial<DdlHistoryRow> = {}): string {
  return renderDdlHistoryRow(
    { occurredAt: '2026-11-27 14:00:00+00', roleName: 'alice', searchPath: '"$user", public', commandTag, objectIdentities: ['public.f'], query, ...extra },
    { ordinals: new DdlOrdinals(), ddlInFunction: 'warn' },
  );
}

/** Function bodies and literals whose lines look exactly like mergeable INSERTs. */
const TRAP = "INSERT INTO public.items (id, name) VALUES ('1', 'x');\nINSERT INTO public.items (id, name) VALUES ('2', 'x');";
const DDL_CASES: Array<{ what: string; query: string; tag: string; extra?: Partial<DdlHistoryRow>; rest?: boolean }> = [
  { what: 'a table', query: 'CREATE TABLE t (id int)', tag: 'CREATE TABLE' },
  { what: 'a $$ function body', query: `CREATE FUNCTION f() RETURNS void LANGUAGE sql AS $$\n${TRAP}\n$$`, tag: 'CREATE FUNCTION' },
  {
    what: 'a body holding the end line, empty search_path',
    query: `CREATE FUNCTION f() RETURNS void LANGUAGE sql AS $f$\nSELECT pg_catalog.set_config('search_path', '', true);\n${TRAP}\n$f$`,
    tag: 'CREATE FUNCTION', extra: { searchPath: '' },
  },
  {
    what: 'BEGIN ATOMIC', tag: 'CREATE FUNCTION', rest: true,
    query: `CREATE FUNCTION g() RETURNS void LANGUAGE sql BEGIN ATOMIC\nSELECT 1;\nSELECT pg_catalog.set_config('search_path', '', true);\n${TRAP}\nEND`,
  },
  { what: 'a multi-action rule', query: `CREATE RULE r AS ON INSERT TO public.a DO ALSO (\n${TRAP}\n)`, tag: 'CREATE RULE' },
  { what: 'a marker-like line (DO block)', query: `CREATE FUNCTION f() RETURNS void LANGUAGE sql AS $$\nBEGIN; -- xid 7\n${TRAP}\n$$`, tag: 'CREATE FUNCTION' },
  { what: 'a literal', query: `COMMENT ON TABLE t IS E'\\';\n${TRAP.replace(/'/g, "''")}'`, tag: 'COMMENT' },
  {
    what: 'session settings and a rewrite warning', query: 'ALTER TABLE t ADD c timestamptz DEFAULT now()', tag: 'ALTER TABLE',
    extra: { settings: [{ name: 'TimeZone', value: 'Europe/Paris' }], volatileRewrites: ['public.t (c)'] },
  },
  { what: 'a temporary object', query: 'CREATE TEMP TABLE x (a int)', tag: 'CREATE TABLE', extra: { objectIdentities: ['pg_temp.x'] } },
  { what: 'DDL in a function', query: `DO $$BEGIN\n${TRAP}\nCREATE TABLE x ();\nEND$$`, tag: 'CREATE TABLE' },
];

describe('mergeInserts: golden cases', () => {
  it('merges a run of one-row INSERTs into one statement, rows in order', () => {
    const body = ins('1') + ins('2', null) + ins('3', "it's, ('x');") + "UPDATE ONLY public.items SET name = 'y' WHERE id = '1';\n";
    expect(mergeInserts(body)).toBe(
      "INSERT INTO public.items (id, name) VALUES ('1', 'x'), ('2', NULL), ('3', 'it''s, (''x'');');\n" +
        "UPDATE ONLY public.items SET name = 'y' WHERE id = '1';\n",
    );
  });

  it('breaks runs at another table, column list, OVERRIDING clause or statement', () => {
    const other = rel('public', 'items', ['id', 'name', 'qty']);
    const ident = rel('public', 'items', ['id', 'name'], { identityAlways: new Set(['id']) });
    const body = [
      ins('1'), ins('2'), renderInsert(other, row('3', 'x', '1')), renderInsert(ident, row('4', 'x')), renderInsert(ident, row('5', 'x')),
      renderInsert(rel('s', 'items', ['id', 'name']), row('6', 'x')), ins('7'), renderMarker({ kind: 'checkpoint', lsn: '0/1', note: null }), ins('8'),
      renderDelete(items, { kind: 'key', tuple: row('8', null) }), ins('9'), renderTruncate([items], { cascade: false, restartIdentity: false }), ins('10'),
    ].join('');
    expect(mergeInserts(body).split('\n')).toEqual([
      "INSERT INTO public.items (id, name) VALUES ('1', 'x'), ('2', 'x');",
      "INSERT INTO public.items (id, name, qty) VALUES ('3', 'x', '1');",
      "INSERT INTO public.items (id, name) OVERRIDING SYSTEM VALUE VALUES ('4', 'x'), ('5', 'x');",
      "INSERT INTO s.items (id, name) VALUES ('6', 'x');",
      "INSERT INTO public.items (id, name) VALUES ('7', 'x');",
      '-- pgincr marker: checkpoint at 0/1',
      "INSERT INTO public.items (id, name) VALUES ('8', 'x');",
      "DELETE FROM ONLY public.items WHERE id = '8';",
      "INSERT INTO public.items (id, name) VALUES ('9', 'x');",
      'TRUNCATE ONLY public.items;',
      "INSERT INTO public.items (id, name) VALUES ('10', 'x');",
      '',
    ]);
  });

  it('quoted names holding " VALUES (" and E literals with escaped line breaks', () => {
    const odd = rel('we"ird', 'a) VALUES (', ['x) VALUES (', 'select']);
    const body = renderInsert(odd, row('a\nb', '\\')) + renderInsert(odd, row("'", null));
    expect(mergeInserts(body)).toBe(
      "INSERT INTO \"we\"\"ird\".\"a) VALUES (\" (\"x) VALUES (\", \"select\") VALUES (E'a\\nb', '\\'), ('''', NULL);\n",
    );
  });

  it('leaves lines of any other form alone, and returns the body itself when nothing merges', () => {
    const body = [
      'INSERT INTO public.items DEFAULT VALUES;', 'INSERT INTO public.items DEFAULT VALUES;',
      "INSERT INTO public.items (id) VALUES ('1'), ('2');", "INSERT INTO public.items (id) VALUES ('1'), ('2');",
      "INSERT INTO public.items (id) VALUES ('1'); -- c", "INSERT INTO public.items (id) VALUES ('1'); -- c",
      "INSERT INTO public.items (id) VALUES (1);", "INSERT INTO public.items (id) VALUES (1);",
      "INSERT INTO Public.items (id) VALUES ('1');", "INSERT INTO Public.items (id) VALUES ('1');",
      "INSERT INTO public.items (id) VALUES ('1", "');", '',
    ].join('\n');
    expect(mergeInserts(body)).toBe(body);
  });

  it('caps a statement at maxRows rows and maxChars characters (a single row may exceed it)', () => {
    const body = ['1', '2', '3', '4', '5'].map((id) => ins(id)).join('');
    expect(mergeInserts(body, { maxRows: 2 }).split('\n')).toEqual([
      "INSERT INTO public.items (id, name) VALUES ('1', 'x'), ('2', 'x');",
      "INSERT INTO public.items (id, name) VALUES ('3', 'x'), ('4', 'x');",
      "INSERT INTO public.items (id, name) VALUES ('5', 'x');",
      '',
    ]);
    const one = ins('1').length - 1; // the line without its newline
    expect(mergeInserts(body, { maxChars: one + 2 * 10 }).split('\n').map((l) => parseInsertLine(l) ?? l)).toHaveLength(4);
    expect(mergeInserts(body, { maxChars: 1 })).toBe(body);
  });

  it.each(DDL_CASES.filter((c) => !c.rest))('never touches DDL ($what) and merges around it', ({ query, tag, extra }) => {
    const block = ddl(query, tag, extra);
    const body = ins('1') + ins('2') + block + ins('3') + ins('4');
    expect(mergeInserts(body)).toBe(
      "INSERT INTO public.items (id, name) VALUES ('1', 'x'), ('2', 'x');\n" + block + "INSERT INTO public.items (id, name) VALUES ('3', 'x'), ('4', 'x');\n",
    );
  });

  it('after a BEGIN ATOMIC body, leaves the rest of the transaction alone', () => {
    const c = DDL_CASES.find((d) => d.rest)!;
    const block = ddl(c.query, c.tag);
    expect(block).toContain('BEGIN ATOMIC');
    const tail = ins('3') + ins('4');
    expect(mergeInserts(ins('1') + ins('2') + block + tail)).toBe("INSERT INTO public.items (id, name) VALUES ('1', 'x'), ('2', 'x');\n" + block + tail);
  });
});

// ---- property: the merged text holds the original rows, in order, and every DDL line as it was ----

interface Line {
  text: string;
  /** In a DDL block, or after one whose end is unsure: must come out untouched. */
  frozen: boolean;
}

const TABLES = [items, rel('public', 'items', ['id', 'name'], { identityAlways: new Set(['id']) }), rel('s', 'a) VALUES (', ['x', 'y"z'])];
const value = fc.oneof(
  fc.constant(null),
  fc.string({ unit: fc.constantFrom('a', "'", '"', ',', ' ', '(', ')', ';', '\\', '\n', '\r', 'é', '-'), maxLength: 8 }),
);
const statement = fc.oneof(
  { weight: 6, arbitrary: fc.record({ kind: fc.constant('insert' as const), table: fc.nat(TABLES.length - 1), a: value, b: value }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('update' as const), table: fc.nat(TABLES.length - 1), a: value, b: value }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('other' as const), which: fc.nat(2) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('ddl' as const), which: fc.nat(DDL_CASES.length - 1) }) },
);

type Stmt = typeof statement extends fc.Arbitrary<infer T> ? T : never;

function render(stmts: readonly Stmt[]): Line[] {
  const lines: Line[] = [];
  let frozen = false;
  const add = (sql: string, isDdl: boolean) => {
    for (const text of sql.slice(0, -1).split('\n')) lines.push({ text, frozen: frozen || isDdl });
  };
  for (const s of stmts) {
    if (s.kind === 'insert') add(renderInsert(TABLES[s.table]!, row(s.a ?? '0', s.b)), false);
    else if (s.kind === 'update') add(renderUpdate(TABLES[s.table]!, row(s.a ?? '0', s.b)), false);
    else if (s.kind === 'other') {
      add([renderMarker({ kind: 'k', lsn: '0/1', note: "INSERT INTO public.items (id, name) VALUES ('1', 'x');" }), renderSequencePositions('[{"schema":"s","name":"q","last_value":"5","is_called":true}]'), renderDelete(items, { kind: 'key', tuple: row('1', null) })][s.which]!, false);
    } else {
      const c = DDL_CASES[s.which]!;
      add(ddl(c.query, c.tag, c.extra), true);
      if (c.rest) frozen = true;
    }
  }
  return lines;
}

/** Maps each output line back onto original lines; fails unless it is an exact merge. Returns groups of original indices. */
function decompose(orig: Line[], out: string[], maxRows: number, maxChars: number): number[][] {
  const groups: number[][] = [];
  let i = 0;
  for (const o of out) {
    if (o === orig[i]?.text) {
      groups.push([i++]);
      continue;
    }
    const group: number[] = [];
    let prefix: string | undefined;
    let s = '';
    while (s + ';' !== o) {
      const line = orig[i];
      const p = line && !line.frozen ? parseInsertLine(line.text) : null;
      if (!p || (prefix !== undefined && p.prefix !== prefix)) throw new Error(`output line ${JSON.stringify(o)} is not a merge of the original lines from ${group[0] ?? i}`);
      s = prefix === undefined ? p.prefix + p.row : `${s}, ${p.row}`;
      prefix = p.prefix;
      if (!o.startsWith(s)) throw new Error(`output line ${JSON.stringify(o)} does not continue with original line ${i}`);
      group.push(i++);
    }
    expect(group.length).toBeGreaterThan(1);
    expect(group.length).toBeLessThanOrEqual(maxRows);
    expect(o.length).toBeLessThanOrEqual(maxChars);
    groups.push(group);
  }
  expect(i).toBe(orig.length);
  return groups;
}

describe('mergeInserts: property', () => {
  it('the merged text holds the original rows in order; DDL lines are untouched; runs are merged up to the limits', () => {
    fc.assert(
      fc.property(fc.array(statement, { maxLength: 25 }), fc.integer({ min: 1, max: 6 }), fc.integer({ min: 60, max: 400 }), (stmts, maxRows, maxChars) => {
        const orig = render(stmts);
        const body = orig.map((l) => `${l.text}\n`).join('');
        const out = mergeInserts(body, { maxRows, maxChars }).split('\n');
        const groups = decompose([...orig, { text: '', frozen: false }], out, maxRows, maxChars);
        // Maximal: two adjacent groups of the same INSERT form outside DDL would have merged unless a limit stopped it.
        for (let g = 1; g < groups.length; g++) {
          const [a, b] = [groups[g - 1]!, groups[g]!];
          const [la, lb] = [orig[a[a.length - 1]!], orig[b[0]!]];
          if (!la || !lb || la.frozen || lb.frozen) continue;
          const [pa, pb] = [parseInsertLine(la.text), parseInsertLine(lb.text)];
          if (!pa || !pb || pa.prefix !== pb.prefix) continue;
          const aLen = out[g - 1]!.length;
          expect(a.length === maxRows || aLen + 2 + pb.row.length > maxChars).toBe(true);
        }
      }),
      { numRuns: 300 },
    );
  });
});
