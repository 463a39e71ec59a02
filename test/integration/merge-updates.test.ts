/**
 * The applier's set-based merging (core/restore/merge-changes.ts) against a real target: the
 * same state as the source and as one statement per row, for inserts, updates (all columns, a
 * partial SET list, repeated updates of one row, key changes), deletes and re-inserts of a key in
 * one batch, a composite key, a domain, numeric/interval typmods, a generated column, a REPLICA
 * IDENTITY FULL table with duplicate rows, a table whose ENABLE ALWAYS statement trigger must see
 * every statement as written, DDL between batches, and a batch whose merged form fails (a
 * transient duplicate on another unique index) and is applied as written.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Client } from 'pg';
import { startCluster, type PgCluster } from '../helpers/pg-cluster';
import { Recorder } from '../helpers/restore-fixture';
import { tableSums } from '../helpers/workload';
import { formatLsn, parseLsn } from '../../src/core/lsn';
import { DdlOrdinals, initDdlParser } from '../../src/core/ddl/extract';
import { renderDdlHistoryRow } from '../../src/core/sql/capture-tables';
import { renderDelete, renderInsert, renderUpdate, type RelationInfo } from '../../src/core/sql/render';
import type { Tuple, TupleValue } from '../../src/core/decoding/model';
import { applySegments, type ApplyOptions } from '../../src/restore/apply-segments';

jest.setTimeout(180_000);
const BASE_LSN = parseLsn('0/3000000');

const SCHEMA = `
CREATE DOMAIN public.short AS varchar(8) CHECK (VALUE <> 'bad');
CREATE TABLE public.items (id bigint PRIMARY KEY, name text NOT NULL, qty int, price numeric(10,2), tags text[],
  at timestamptz, doc jsonb, code public.short, span interval hour to minute, twice int GENERATED ALWAYS AS (qty * 2) STORED);
CREATE TABLE public.pair (a int, b text, v text, PRIMARY KEY (a, b));
CREATE TABLE public.uniq (id int PRIMARY KEY, email text NOT NULL UNIQUE);
CREATE TABLE public.full_rows (x text, y int);
ALTER TABLE public.full_rows REPLICA IDENTITY FULL;
CREATE TABLE public.audited (id int PRIMARY KEY, v text);
CREATE TABLE public.stmts (n int);
INSERT INTO public.stmts VALUES (0);
CREATE FUNCTION public.count_stmt() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN UPDATE public.stmts SET n = n + 1; RETURN NULL; END$$;
CREATE TRIGGER c AFTER INSERT OR UPDATE OR DELETE ON public.audited FOR EACH STATEMENT EXECUTE FUNCTION public.count_stmt();
ALTER TABLE public.audited ENABLE ALWAYS TRIGGER c;`;

function rel(table: string, cols: string[], keys: string[], extra: Partial<RelationInfo> = {}): RelationInfo {
  return {
    relationId: 1,
    schema: 'public',
    table,
    replicaIdentity: 'd',
    columns: cols.map((name) => ({ name, typeOid: 25, typeMod: -1, isKey: keys.includes(name) })),
    identityAlways: new Set(),
    generated: new Set(),
    ...extra,
  };
}
const ITEM_COLS = ['id', 'name', 'qty', 'price', 'tags', 'at', 'doc', 'code', 'span', 'twice'];
const items = rel('items', ITEM_COLS, ['id'], { generated: new Set(['twice']) });
const items2 = rel('items', [...ITEM_COLS, 'extra'], ['id'], { generated: new Set(['twice']) });
const pair = rel('pair', ['a', 'b', 'v'], ['a', 'b']);
const uniq = rel('uniq', ['id', 'email'], ['id']);
const fullRel = rel('full_rows', ['x', 'y'], [], { replicaIdentity: 'f' });
const full: RelationInfo = { ...fullRel, columns: fullRel.columns.map((c) => (c.name === 'y' ? { ...c, typeOid: 23 } : c)) }; // y int
const audited = rel('audited', ['id', 'v'], ['id']);

const v = (x: string | null): TupleValue => (x === null ? { kind: 'null' } : { kind: 'text', value: x });
const row = (...xs: Array<string | null>): Tuple => xs.map(v);
const UNCHANGED: TupleValue = { kind: 'unchanged' };

/** An items row; version n changes every column but the key. */
function item(id: number, n: number, extra?: string | null): Tuple {
  const values = [
    String(id),
    `item ${id} v${n} it's "q" ✓${n % 3 === 0 ? '\nline 2 \\' : ''}`,
    n % 4 === 0 ? null : String(id * 7 + n),
    `${id}.${n}49`,
    `{a,"b c",${n}}`,
    `2026-01-0${1 + (n % 5)} 0${n % 10}:00:00.12345+00`,
    `{"id": ${id}, "n": ${n}}`,
    `c${n}`,
    `0${n % 10}:3${n % 6}:00`,
    null,
  ];
  return row(...(extra === undefined ? values : [...values, extra]));
}
const ins = (r: RelationInfo, t: Tuple) => renderInsert(r, t).trimEnd();
const upd = (r: RelationInfo, t: Tuple, oldKey?: Tuple) => renderUpdate(r, t, oldKey && { kind: 'key', tuple: oldKey }).trimEnd();
/** A key tuple: the key columns' values in order, NULL elsewhere. */
const key = (r: RelationInfo, ...keys: string[]): Tuple => {
  let i = 0;
  return r.columns.map((c) => (c.isKey ? v(keys[i++] ?? null) : v(null)));
};
const del = (r: RelationInfo, t: Tuple) => renderDelete(r, { kind: r.replicaIdentity === 'f' ? 'old' : 'key', tuple: t }).trimEnd();

function ddl(query: string, commandTag: string): string {
  return renderDdlHistoryRow(
    { occurredAt: '2026-01-01 00:00:00+00', roleName: 'postgres', searchPath: '', commandTag, objectIdentities: ['public.items'], query },
    { ordinals: new DdlOrdinals(), ddlInFunction: 'fail' },
  ).trimEnd();
}

describe('applier: set-based merging of INSERT, UPDATE and DELETE', () => {
  let pg: PgCluster;
  let dir: string;
  let source: Client;
  let paths: string[];

  beforeAll(async () => {
    await initDdlParser();
    pg = await startCluster();
    dir = mkdtempSync(join(tmpdir(), 'pgincr-merge-updates-'));
    await pg.createDatabase('src');
    await pg.query(SCHEMA, [], 'src');
    source = await pg.connect('src');
    await source.query("SET TimeZone = 'UTC'; SET DateStyle = 'ISO, YMD'");
    const r = new Recorder(source, dir, BASE_LSN);
    // Batch A (ends at the DDL): everything mergeable and not, across three source transactions.
    await r.txn([
      ...Array.from({ length: 20 }, (_, i) => ins(items, item(i + 1, 0))),
      ins(pair, row('1', 'x', 'a')),
      ins(pair, row('1', 'y', 'b')),
      ins(pair, row('2', 'x', null)),
      ins(uniq, row('1', 'a')),
      ins(uniq, row('2', 'b')),
      ins(full, row('dup', '1')),
      ins(full, row('dup', '1')),
      ins(full, row('other', null)),
      ins(audited, row('1', 'a')),
      ins(audited, row('2', 'b')),
      ins(audited, row('3', 'c')),
    ]);
    await r.txn([
      ...Array.from({ length: 10 }, (_, i) => upd(items, item(i + 1, 1))),
      upd(items, item(1, 2)),
      upd(items, item(1, 3)), // repeated updates of one row
      del(items, key(items, '15')),
      del(items, key(items, '16')),
      ins(items, item(15, 7)),
      upd(items, item(15, 8)), // delete, re-insert, update one key
      upd(pair, row('1', 'x', 'a2')),
      upd(pair, row('1', 'y', null)),
      del(pair, key(pair, '2', 'x')),
      renderUpdate(full, row('dup', '2'), { kind: 'old', tuple: row('dup', '1') }).trimEnd(),
      del(full, row('other', null)),
      upd(audited, row('1', 'a2')),
      upd(audited, row('2', 'b2')),
      del(audited, key(audited, '3')),
    ]);
    await r.txn([
      upd(items, item(100, 4), key(items, '2')),
      upd(items, item(100, 5)), // key change, then the row under its new key
      upd(items, [v('3'), v('renamed'), ...ITEM_COLS.slice(2).map(() => UNCHANGED)]), // partial SET list
      upd(items, [v('4'), v('renamed'), ...ITEM_COLS.slice(2).map(() => UNCHANGED)]),
      del(items, key(items, '1')),
      ins(items, item(1, 9)),
      upd(items, item(1, 10)),
      upd(items, item(5, 11)),
    ]);
    await r.txn([ddl('ALTER TABLE public.items ADD COLUMN extra text', 'ALTER TABLE')]);
    // Batch B: many small transactions after the DDL (the new column in every INSERT).
    for (let k = 0; k < 40; k++) {
      const base = 1000 + k * 5;
      await r.txn([
        ...[0, 1, 2, 3, 4].map((i) => ins(items2, item(base + i, 0, i % 2 ? `x${k}` : null))),
        ...(k > 0 ? [upd(items2, item(base - 4, 1, 'u')), upd(items2, item(base - 3, 1, null)), del(items2, key(items2, String(base - 5)))] : []),
        ...(k > 1 ? [upd(items2, item(base - 9, 2, 'again'))] : []),
      ]);
    }
    await r.txn([ddl("COMMENT ON TABLE public.uniq IS 'x'", 'COMMENT')]);
    // Batch C: valid as written, but round 0 sets 'q' on both rows in one statement: the merged form fails.
    await r.txn([upd(uniq, row('1', 'q')), upd(uniq, row('1', 'r'))]);
    await r.txn([upd(uniq, row('2', 'q'))]);
    r.cut(false);
    paths = r.segments.map((s) => s.path);
  });

  afterAll(async () => {
    await source?.end();
    await pg?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  async function apply(db: string, extra: Partial<ApplyOptions>) {
    await pg.createDatabase(db);
    await pg.query(SCHEMA, [], db);
    const r = await applySegments({
      profile: pg.profile(db),
      restoreId: db,
      segments: paths,
      stopAt: { kind: 'latest' },
      startLsn: formatLsn(BASE_LSN),
      ...extra,
    });
    expect(r.appliedTransactions).toBe(47);
    return { result: r, sums: await tableSums(pg, db) };
  }

  it('restores the source state exactly, merged or one statement per row, in big or small batches', async () => {
    const expected = await tableSums(pg, 'src');
    const plain = await apply('plain', { mergeInserts: false });
    const merged = await apply('merged', {});
    const small = await apply('small', { batchTransactions: 2 });
    expect(plain.sums).toEqual(expected);
    expect(merged.sums).toEqual(expected);
    expect(small.sums).toEqual(expected);
    // Batches A and B were committed merged; batch C's merged form failed and it was applied as written.
    expect(merged.result).toMatchObject({ batches: 3, mergedBatches: 2, mergeFallbacks: 1 });
    expect(plain.result).toMatchObject({ mergedBatches: 0, mergeFallbacks: 0 });
    // The ALWAYS statement trigger saw every statement as written (6, as on the source).
    const [stmts] = await pg.query<{ n: number }>('SELECT n FROM public.stmts', [], 'merged');
    expect(stmts?.n).toBe(6);
  });
});
