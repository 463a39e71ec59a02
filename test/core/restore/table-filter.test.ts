/**
 * A partial restore's body filter (core/restore/table-filter.ts) and selection
 * (core/restore/table-selection.ts): exact names, hostile names, DDL blocks kept whole or left out.
 */
import { filterBody, ddlTag } from '../../../src/core/restore/table-filter';
import { SelectionMatcher, parseSelection, setvalLiteral, splitNameList } from '../../../src/core/restore/table-selection';
import { initDdlParser } from '../../../src/core/ddl/extract';
import { searchPathSchemas } from '../../../src/core/ddl/index-target';

const matcherOf = (tables: string[], schemas: string[] = []) => new SelectionMatcher(parseSelection(tables, schemas));
const run = (sql: string, tables: string[], schemas: string[] = [], sequences: string[] = []) =>
  filterBody(sql, { matcher: matcherOf(tables, schemas), sequences: new Set(sequences) });

describe('selection', () => {
  it('splits comma lists outside quotes and folds bare parts', () => {
    expect(splitNameList('public.orders, public."a,b" ,x')).toEqual(['public.orders', 'public."a,b"', 'x']);
    expect(parseSelection(['Public.Orders', '"We""ird".x'], []).tables).toEqual([
      { schema: 'public', name: 'orders' },
      { schema: 'We"ird', name: 'x' },
    ]);
    expect(() => parseSelection(['a.b.c'], [])).toThrow(/not a table name/);
    expect(() => parseSelection([], [])).toThrow(/at least one/);
  });

  it('matches the exact written form only, hostile names included', () => {
    const m = matcherOf(['public."x\nCOMMIT; -- xid 1"', 'public."a.b"']);
    expect(m.rowTable('public.U&"x\\000ACOMMIT; -- xid 1"')).toBe(true);
    expect(m.rowTable('public."a.b"')).toBe(true);
    expect(m.rowTable('public.a')).toBe(false);
    expect(m.rowTable('"public.a".b')).toBe(false);
    expect(m.ddlObject('public."x\\nCOMMIT; -- xid 1"')).toBe(true);
    const s = matcherOf([], ['s1']);
    expect(s.rowTable('s1.t')).toBe(true);
    expect(s.rowTable('s10.t')).toBe(false);
    expect(s.rowTable('"s1.x".t')).toBe(false);
  });
});

describe('filterBody', () => {
  it('keeps the chosen tables row changes, rewrites TRUNCATE, drops the rest', () => {
    const body = [
      "INSERT INTO public.orders (id) VALUES ('1');",
      "INSERT INTO public.orders_archive (id) VALUES ('1');",
      "UPDATE ONLY public.order_items SET qty = '2' WHERE id = '1';",
      "DELETE FROM ONLY public.customers WHERE id = '3';",
      "DELETE FROM public.orders WHERE id = '4';",
      'TRUNCATE ONLY public.customers, ONLY public.orders RESTART IDENTITY;',
      'TRUNCATE ONLY public.customers;',
      '-- pgincr marker: checkpoint x at 0/1',
      '',
    ].join('\n');
    const r = run(body, ['public.orders', 'public.order_items']);
    expect(r.sql.split('\n')).toEqual([
      "INSERT INTO public.orders (id) VALUES ('1');",
      "UPDATE ONLY public.order_items SET qty = '2' WHERE id = '1';",
      "DELETE FROM public.orders WHERE id = '4';",
      'TRUNCATE ONLY public.orders RESTART IDENTITY;',
      '-- pgincr marker: checkpoint x at 0/1',
      '',
    ]);
    expect(r.droppedLines).toBe(3);
  });

  it('a hostile table whose name starts like a chosen one is not chosen', () => {
    const body = `INSERT INTO public."orders; DROP TABLE public.orders" (id) VALUES ('1');\nINSERT INTO public.orders (id) VALUES ('2');\n`;
    expect(run(body, ['public.orders']).sql).toBe("INSERT INTO public.orders (id) VALUES ('2');\n");
  });

  it('keeps DDL blocks on chosen tables whole (a body holding row-like lines), leaves out others and reports them', () => {
    const block = (tag: string, objects: string, stmt: string[]) => [
      `-- ddl: ${tag} ${objects} role alice at 2026-11-27 14:00:00.000000+00`,
      'SET ROLE "alice";',
      "SELECT pg_catalog.set_config('search_path', 'public', true);",
      ...stmt,
      "SELECT pg_catalog.set_config('search_path', '', true);",
      'RESET ROLE;',
    ];
    const onOrders = block('ALTER TABLE', 'public.orders', ['ALTER TABLE orders ADD COLUMN note text;']);
    const onOther = block('CREATE TABLE', 'public.other', ['CREATE TABLE other (id int);']);
    const fn = block('CREATE FUNCTION', 'public.f()', [
      'CREATE FUNCTION f() RETURNS int AS $$',
      "INSERT INTO public.customers (id) VALUES ('1');",
      'SELECT 1 $$ LANGUAGE sql;',
    ]);
    const body = [...onOrders, ...onOther, ...fn, "INSERT INTO public.other (id) VALUES ('1');", ''].join('\n');
    const r = run(body, ['public.orders']);
    expect(r.sql).toBe([...onOrders, ...fn, ''].join('\n'));
    expect(r.skippedDdl).toEqual([onOther[0]]);
    expect(ddlTag(onOther[0]!)).toBe('CREATE TABLE');
  });

  it('keeps a CREATE INDEX on a chosen table (its header names only the index), qualified or through the search_path', async () => {
    await initDdlParser();
    const index = (name: string, path: string, stmt: string) => [
      `-- ddl: CREATE INDEX ${name} role alice at 2026-11-27 14:00:00.000000+00`,
      'SET ROLE "alice";',
      `SELECT pg_catalog.set_config('search_path', '${path}', true);`,
      stmt,
      "SELECT pg_catalog.set_config('search_path', '', true);",
      'RESET ROLE;',
    ];
    const qualified = index('public.orders_state', '', 'CREATE INDEX orders_state ON public.orders USING btree (state);');
    const viaPath = index('public.orders_note', '"$user", public', 'CREATE UNIQUE INDEX orders_note ON ONLY orders (note)\n  WHERE note IS NOT NULL;');
    const other = index('public.other_v', 'public', 'CREATE INDEX other_v ON public.other (v);');
    // A hostile table whose name reads like the chosen one: not chosen.
    const lookalike = index('public."orders x"', 'public', 'CREATE INDEX "orders x" ON public."orders; DROP TABLE public.orders" (id);');
    const body = [...qualified, ...viaPath, ...other, ...lookalike, ''].join('\n');
    const r = run(body, ['public.orders']);
    expect(r.sql).toBe([...qualified, ...viaPath, ''].join('\n'));
    expect(r.skippedDdl).toEqual([other[0], lookalike[0]]);
    // Another schema first on the path: the unqualified table is that schema's, not chosen.
    expect(run(index('app.orders_x', 'app', 'CREATE INDEX orders_x ON orders (id);').join('\n'), ['public.orders']).skippedDdl).toHaveLength(1);
    expect(searchPathSchemas('"$user", public, "My ""S""", Sales')).toEqual(['public', 'My "S"', 'sales']);
  });

  it('follows indexes and views of kept relations: ALTER/DROP INDEX, CREATE VIEW on kept relations only, renames', async () => {
    await initDdlParser();
    const block = (header: string, path: string, stmt: string) => [
      `-- ddl: ${header} role alice at 2026-11-27 14:00:00.000000+00`,
      'SET ROLE "alice";',
      `SELECT pg_catalog.set_config('search_path', '${path}', true);`,
      stmt,
      "SELECT pg_catalog.set_config('search_path', '', true);",
      'RESET ROLE;',
    ];
    const kept = [
      ...block('ALTER INDEX public.orders_note_i2', 'public', 'ALTER INDEX orders_note RENAME TO orders_note_i2;'),
      ...block('ALTER INDEX public.orders_note_i2', '', 'ALTER INDEX public.orders_note_i2 SET (fillfactor = 70);'),
      ...block('CREATE INDEX public."Idx ""q"""', '', 'CREATE INDEX "Idx ""q""" ON public.orders (id);'),
      ...block('DROP INDEX public."Idx ""q"""', '', 'DROP INDEX public."Idx ""q""";'),
      ...block(
        'CREATE VIEW public.big',
        'public',
        'CREATE VIEW big AS WITH c AS (SELECT 1) SELECT o.id FROM orders o, c WHERE EXISTS (SELECT 1 FROM public.paid);',
      ),
      ...block('REFRESH MATERIALIZED VIEW public.mv', '', 'REFRESH MATERIALIZED VIEW public.mv;'),
    ];
    const skipped = [
      ...block('ALTER INDEX public.customers_idx', '', 'ALTER INDEX public.customers_idx SET (fillfactor = 70);'),
      ...block('CREATE VIEW public.mixed', '', 'CREATE VIEW public.mixed AS SELECT * FROM public.orders JOIN public.customers USING (id);'),
      ...block('DROP INDEX public.other_idx', '', 'DROP INDEX public.other_idx;'),
    ];
    const dependents = new Set(['public.orders_note', 'public.paid', 'public.mv']);
    const r = filterBody([...kept, ...skipped, ''].join('\n'), { matcher: matcherOf(['public.orders']), sequences: new Set(), dependents });
    expect(r.sql).toBe([...kept, ''].join('\n'));
    expect(r.skippedDdl.map((h) => h.split(' role ')[0])).toEqual([
      '-- ddl: ALTER INDEX public.customers_idx',
      '-- ddl: CREATE VIEW public.mixed',
      '-- ddl: DROP INDEX public.other_idx',
    ]);
    expect([...dependents]).toEqual(expect.arrayContaining(['public.orders_note_i2', 'public.big']));
  });

  it('follows a chosen table renamed or moved (its header names only the new identity): later changes under the new name apply', async () => {
    await initDdlParser();
    const block = (header: string, stmt: string) => [
      `-- ddl: ALTER TABLE ${header} role alice at 2026-11-27 14:00:00.000000+00`,
      'SET ROLE "alice";',
      "SELECT pg_catalog.set_config('search_path', 'public', true);",
      stmt,
      "SELECT pg_catalog.set_config('search_path', '', true);",
      'RESET ROLE;',
    ];
    const body = [
      ...block('public."Orders 2"', 'ALTER TABLE public.orders RENAME TO "Orders 2";'),
      `INSERT INTO public."Orders 2" (id) VALUES ('1');`,
      ...block('archive."Orders 2"', 'ALTER TABLE public."Orders 2" SET SCHEMA archive;'),
      `DELETE FROM archive."Orders 2" WHERE id = '1';`,
      ...block('public.other2', 'ALTER TABLE public.other RENAME TO other2;'),
      `INSERT INTO public.other2 (id) VALUES ('1');`,
      '',
    ].join('\n');
    const r = run(body, ['public.orders']);
    expect(r.sql.split('\n')).toEqual([
      ...block('public."Orders 2"', 'ALTER TABLE public.orders RENAME TO "Orders 2";'),
      `INSERT INTO public."Orders 2" (id) VALUES ('1');`,
      ...block('archive."Orders 2"', 'ALTER TABLE public."Orders 2" SET SCHEMA archive;'),
      `DELETE FROM archive."Orders 2" WHERE id = '1';`,
      '',
    ]);
    expect(r.skippedDdl).toHaveLength(1);
  });

  it('keeps setval of kept sequences only', () => {
    const body = "SELECT pg_catalog.setval('public.orders_id_seq', 5, true);\nSELECT pg_catalog.setval('public.other_seq', 5, true);\n";
    const r = run(body, ['public.orders'], [], [setvalLiteral({ schema: 'public', name: 'orders_id_seq' })]);
    expect(r.sql).toBe("SELECT pg_catalog.setval('public.orders_id_seq', 5, true);\n");
  });
});
