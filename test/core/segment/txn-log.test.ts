import fc from 'fast-check';
import { parseKinds, parseWhere, tableName, ddlObjects, TxnLogFilter, type LogFilter, type TxnSummary } from '../../../src/core/segment/txn-log';
import { header, renderSegment, type TestTxn } from './segment-builder';

function run(segment: Buffer, filter: LogFilter, chunk = 7): TxnSummary[] {
  const out: TxnSummary[] = [];
  const f = new TxnLogFilter(filter, (t) => out.push(t));
  for (let i = 0; i < segment.length; i += chunk) f.push(segment.subarray(i, i + chunk));
  f.endSegment();
  return out;
}

function txn(xid: number, statements: string[], second = xid % 60): TestTxn {
  return {
    xid,
    commitLsn: BigInt(0x16b4000 + xid * 0x100),
    endLsn: BigInt(0x16b4000 + xid * 0x100 + 0x40),
    commitTime: `2026-11-27T14:00:${String(second).padStart(2, '0')}.000001Z`,
    statements,
  };
}

const DDL_BLOCK = [
  '-- ddl: ALTER TABLE public.orders role alice at 2026-11-27 14:00:00+00',
  'SET ROLE "alice";',
  "SELECT pg_catalog.set_config('search_path', '', true);",
  'CREATE FUNCTION public.f() RETURNS void LANGUAGE sql AS $$',
  "DELETE FROM ONLY public.orders WHERE id = '1';",
  '$$;',
  "SELECT pg_catalog.set_config('search_path', '', true);",
  'RESET ROLE;',
];

describe('table names as segments write them', () => {
  it('quotes and folds like quote_ident', () => {
    expect(tableName('public.orders')).toBe('public.orders');
    expect(tableName('Orders')).toBe('public.orders');
    expect(tableName('"My Table"')).toBe('public."My Table"');
    expect(tableName('sales."A.b"')).toBe('sales."A.b"');
    expect(tableName('public.user')).toBe('public."user"');
    expect(tableName('public."x\nCOMMIT"')).toBe('public.U&"x\\000ACOMMIT"');
    expect(() => tableName('a.b.c')).toThrow(/schema\.table/);
    expect(() => tableName('"open')).toThrow(/not a table name/);
  });

  it('parses --where and --kind', () => {
    expect(parseWhere('id=42')).toEqual({ column: 'id', literal: "'42'" });
    expect(parseWhere('"Note"=it\'s')).toEqual({ column: 'Note', literal: "'it''s'" });
    expect(() => parseWhere('42')).toThrow(/column=value/);
    expect([...parseKinds('delete,DDL')]).toEqual(['DELETE', 'DDL']);
    expect(() => parseKinds('merge')).toThrow(/INSERT, UPDATE, DELETE, TRUNCATE, DDL/);
  });

  it('reads the objects of a ddl header', () => {
    expect(ddlObjects('-- ddl: ALTER TABLE public.orders role alice at 2026-11-27 14:00:00+00')).toEqual(['public.orders']);
    expect(ddlObjects('-- ddl: CREATE INDEX public.i, public."T, x".c role r at t')).toEqual(['public.i', 'public."T, x"']);
    expect(ddlObjects('-- ddl: CREATE FUNCTION public.f(integer, text) role r at t')).toEqual(['public.f']);
    expect(ddlObjects('-- ddl: CREATE EXTENSION role r at t')).toEqual([]);
  });
});

describe('TxnLogFilter', () => {
  const segment = renderSegment(header, [
    txn(1, ["INSERT INTO public.orders (id, note) VALUES ('1', 'a');", "INSERT INTO public.orders (id, note) VALUES ('2', 'b');"]),
    txn(2, ["DELETE FROM ONLY public.orders WHERE id = '2';", "UPDATE ONLY public.items SET n = '5' WHERE id = '42';"]),
    txn(3, ['TRUNCATE ONLY public.items, ONLY public."Audit Log" RESTART IDENTITY;']),
    txn(4, DDL_BLOCK),
    txn(5, [
      'INSERT INTO public.U&"x\\000A" (id) VALUES (\'1\');',
      "-- pgincr: REFUSED pgincr.ddl_history row id 3 xid 9: bad signature, not written by pgincr's triggers; not replayed",
      "DELETE FROM ONLY public.orders WHERE ctid = (SELECT ctid FROM ONLY public.orders WHERE id = '7'::integer AND note IS NULL LIMIT 1);",
    ]),
  ]);

  it('summarises every transaction without filters', () => {
    const all = run(segment, {});
    expect(all.map((t) => t.xid)).toEqual([1, 2, 3, 4, 5]);
    expect(all[0]).toMatchObject({
      commitLsn: '0/16B4100',
      endLsn: '0/16B4140',
      commitTime: '2026-11-27T14:00:01.000001Z',
      tables: { 'public.orders': { INSERT: 2 } },
    });
    expect(all[2]!.tables).toEqual({ 'public.items': { TRUNCATE: 1 }, 'public."Audit Log"': { TRUNCATE: 1 } });
    // the DELETE inside the function body is DDL text, not a DELETE
    expect(all[3]!.tables).toEqual({ 'public.orders': { DDL: 1 } });
    expect(all[4]!.tables).toEqual({ 'public.U&"x\\000A"': { INSERT: 1 }, 'public.orders': { DELETE: 1 } });
    expect(all[4]!.refused).toBe(1);
  });

  it('finds the DELETE on a table, and the DDL', () => {
    expect(run(segment, { tables: new Set(['public.orders']), kinds: new Set(['DELETE']) }).map((t) => t.xid)).toEqual([2, 5]);
    expect(run(segment, { tables: new Set(['public.orders']), kinds: new Set(['DDL']), show: true })).toEqual([
      expect.objectContaining({ xid: 4, matched: 1, statements: DDL_BLOCK }),
    ]);
    expect(run(segment, { tables: new Set(['public."Audit Log"']) }).map((t) => t.xid)).toEqual([3]);
  });

  it('matches --where on key, SET, row values and FULL identity; a TRUNCATE always', () => {
    const where = (w: string, tables?: string[]) => run(segment, { where: parseWhere(w), ...(tables ? { tables: new Set(tables) } : {}) }).map((t) => t.xid);
    expect(where('id=2')).toEqual([1, 2, 3]);
    expect(where('id=42')).toEqual([2, 3]);
    expect(where('n=5')).toEqual([2, 3]);
    expect(where('id=7', ['public.orders'])).toEqual([5]);
    expect(where('note=b', ['public.orders'])).toEqual([1]);
    expect(where('id=3', ['public.orders'])).toEqual([]);
  });

  it('keeps the window by commit LSN and time, and says when it is past the end', () => {
    const out: TxnSummary[] = [];
    const f = new TxnLogFilter({ fromLsn: 0x16b4200n, toLsn: 0x16b4300n }, (t) => out.push(t));
    f.push(segment);
    expect(out.map((t) => t.xid)).toEqual([2, 3]);
    expect(f.pastEnd).toBe(true);
    expect(run(segment, { fromTime: '2026-11-27T14:00:03.000000Z', toTime: '2026-11-27T14:00:04.000001Z' }).map((t) => t.xid)).toEqual([3, 4]);
  });

  it('shows the statements, and drops a torn last transaction of an open segment', () => {
    const open = Buffer.concat([
      renderSegment(header, [txn(1, ["INSERT INTO public.t (id) VALUES ('1');"])], false),
      Buffer.from('\nBEGIN; -- xid 2 commit_lsn 0/16B4200 committed 2026-11-27 14:00:02.000001+00\nINSERT INTO public.t (id) VALU'),
    ]);
    const out = run(open, { show: true });
    expect(out).toEqual([expect.objectContaining({ xid: 1, statements: ["INSERT INTO public.t (id) VALUES ('1');"] })]);
  });

  it('counts a transaction longer than the lines it remembers (bounded memory) exactly', () => {
    const big = Array.from({ length: 100_003 }, (_, i) => `INSERT INTO public.items (id) VALUES ('${i}');`);
    const seg = renderSegment(header, [txn(1, [...big, "DELETE FROM ONLY public.orders WHERE id = '1';"]), txn(2, big.slice(0, 5))]);
    const [t, ...rest] = run(seg, { tables: new Set(['public.orders']), kinds: new Set(['DELETE']) }, 65536);
    expect(rest).toEqual([]);
    expect(t!.tables).toEqual({ 'public.items': { INSERT: 100_003 }, 'public.orders': { DELETE: 1 } });
  });

  const ident = fc.constantFrom('public.a', 'public."B b"', 's.c', 'public.U&"x\\000Ay"');
  const stmt = fc.oneof(
    fc.tuple(ident, fc.nat(9)).map(([t, n]) => ({ kind: 'INSERT', tables: [t], line: `INSERT INTO ${t} (id) VALUES ('${n}');` })),
    fc.tuple(ident, fc.nat(9)).map(([t, n]) => ({ kind: 'UPDATE', tables: [t], line: `UPDATE ONLY ${t} SET v = 'x' WHERE id = '${n}';` })),
    fc.tuple(ident, fc.nat(9)).map(([t, n]) => ({ kind: 'DELETE', tables: [t], line: `DELETE FROM ONLY ${t} WHERE id = '${n}';` })),
    fc.tuple(ident, ident).map(([a, c]) => ({
      kind: 'TRUNCATE',
      tables: a === c ? [a] : [a, c],
      line: `TRUNCATE ${(a === c ? [a] : [a, c]).map((t) => `ONLY ${t}`).join(', ')};`,
    })),
    ident.map((t) => ({
      kind: 'DDL',
      tables: [t],
      line: [
        `-- ddl: ALTER TABLE ${t} role r at 2026-11-27 14:00:00+00`,
        "SELECT pg_catalog.set_config('search_path', 'public', true);",
        `ALTER TABLE ${t} ADD COLUMN z int;`,
        `INSERT INTO ${t} (id) VALUES ('1');`,
        "SELECT pg_catalog.set_config('search_path', '', true);",
      ].join('\n'),
    })),
    fc.constant({ kind: 'none', tables: [] as string[], line: "SELECT pg_catalog.setval('public.s', 3, true);" }),
  );

  it('property: counts equal a naive count over generated segments, however the bytes are split', () => {
    fc.assert(
      fc.property(
        fc.array(fc.array(stmt, { maxLength: 6 }), { maxLength: 8 }),
        fc.integer({ min: 1, max: 64 }),
        fc.constantFrom('public.a', 's.c'),
        (txns, chunk, wanted) => {
          const seg = renderSegment(
            header,
            txns.map((ss, i) =>
              txn(
                i + 1,
                ss.map((s) => s.line),
              ),
            ),
          );
          const got = run(seg, {}, chunk);
          expect(got.map((t) => t.xid)).toEqual(txns.map((_, i) => i + 1));
          txns.forEach((ss, i) => {
            const naive: Record<string, Record<string, number>> = {};
            for (const s of ss) for (const t of s.tables) if (s.kind !== 'none') (naive[t] ??= {})[s.kind] = ((naive[t] ??= {})[s.kind] ?? 0) + 1;
            expect(got[i]!.tables).toEqual(naive);
          });
          const found = run(seg, { tables: new Set([wanted]), kinds: new Set(['DELETE', 'TRUNCATE']) }, chunk);
          // a listed transaction's counts are all of its statements, not only the matching ones
          for (const t of found) expect(t.tables).toEqual(got[t.xid - 1]!.tables);
          const deletes = found.map((t) => t.xid);
          expect(deletes).toEqual(
            txns.flatMap((ss, i) => (ss.some((s) => (s.kind === 'DELETE' || s.kind === 'TRUNCATE') && s.tables.includes(wanted)) ? [i + 1] : [])),
          );
        },
      ),
      { numRuns: 200 },
    );
  });
});
