/**
 * REPLICA IDENTITY FULL changes found in index time, held equal to the exact text form against a
 * real server: random rows (identical duplicates, NULLs, values equal under `=` but different in
 * text: numeric 1.0 / 1.00, float 0 / -0, citext A / a, bpchar 'x' / 'x ', json spacing, a domain
 * and an enum) and random UPDATEs/DELETEs of one physical row on the source are captured from real
 * pgoutput payloads (relation facts and column types read from the catalog as the capture does),
 * rendered in the typed form and in the text-only form, replayed into two copies, and all three
 * tables compared row for row. Then the applier: FULL changes on a table whose target has a
 * primary key are merged by that key (core/restore/merge-changes.ts, 5) and must reach the same
 * state as the lines as written, for the typed form and for older segments' text form.
 */
import fc from 'fast-check';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Client } from 'pg';
import { parseLsn } from '../../src/core/lsn';
import { batchTables, parseBatch, rewriteBatch } from '../../src/core/restore/merge-changes';
import { applySegments, finishRestore } from '../../src/restore/apply-segments';
import { TableShapes } from '../../src/restore/table-shapes';
import { Recorder } from '../helpers/restore-fixture';
import { parsePgoutput } from '../../src/core/decoding/pgoutput';
import { renderDelete, renderInsert, renderUpdate, type RelationInfo } from '../../src/core/sql/render';
import { RelationCache, catalogFactsLookup } from '../../src/capture/relation-cache';
import { startCluster, type PgCluster } from '../helpers/pg-cluster';

jest.setTimeout(240_000);

const PINNED = "SET DateStyle = 'ISO, YMD'; SET IntervalStyle = 'postgres'; SET TimeZone = 'UTC'; SET extra_float_digits = 3; SET bytea_output = 'hex';";
const HEADER = `SET standard_conforming_strings = on; ${PINNED} SET search_path = '';\n`;

const TYPES = `
CREATE EXTENSION citext;
CREATE TYPE public.mood AS ENUM ('sad', 'happy');
CREATE DOMAIN public.small AS numeric CHECK (VALUE < 100);`;

const COLUMNS: ReadonlyArray<[string, string, ReadonlyArray<string | null>]> = [
  ['a', 'int', ['1', '2', null]],
  ['n', 'numeric', ['1.0', '1.00', '2', null]],
  ['x', 'float8', ['0', '-0', '1.5', null]],
  ['t', 'text', ['x', 'y', null]],
  ['c', 'public.citext', ['A', 'a', null]],
  ['h', 'bpchar', ['x', 'x ', null]],
  ['j', 'json', ['{"k":1}', '{"k": 1}', null]],
  ['e', 'public.mood', ['sad', 'happy', null]],
  ['d', 'public.small', ['1.0', '1.00', null]],
];

const rowArb = fc.tuple(...COLUMNS.map(([, , values]) => fc.constantFrom(...values)));
/** Rows copied from one or two templates, some with one column changed: many near or exact duplicates. */
const rowsArb = fc
  .tuple(
    fc.array(rowArb, { minLength: 1, maxLength: 2 }),
    fc.array(fc.tuple(fc.nat(), fc.option(fc.tuple(fc.nat(COLUMNS.length - 1), fc.nat()))), { minLength: 1, maxLength: 8 }),
  )
  .map(([templates, picks]) =>
    picks.map(([from, change]) => {
      const row = [...templates[from % templates.length]!];
      if (change) row[change[0]] = COLUMNS[change[0]]![2][change[1] % COLUMNS[change[0]]![2].length]!;
      return row;
    }),
  );
const opArb = fc.oneof(
  fc.record({ kind: fc.constant('update' as const), row: fc.nat(), column: fc.nat(COLUMNS.length - 1), value: fc.nat() }),
  fc.record({ kind: fc.constant('delete' as const), row: fc.nat() }),
);

const lit = (v: string | null) => (v === null ? 'NULL' : `'${v.replace(/'/g, "''")}'`);

/** Captured transactions rendered twice: as the capture renders them now, and with every column compared by text. */
async function captureTxns(client: Client, cache: RelationCache): Promise<{ typed: string[][]; text: string[][] }> {
  const { rows } = await client.query<{ data: Buffer }>(
    "SELECT data FROM pg_logical_slot_get_binary_changes('s', NULL, NULL, 'proto_version', '1', 'publication_names', 'pub')",
  );
  const textOnly = new WeakMap<RelationInfo, RelationInfo>();
  const asText = (r: RelationInfo) => {
    let t = textOnly.get(r);
    if (!t) textOnly.set(r, (t = { ...r, columns: r.columns.map((c) => ({ ...c, typeOid: 0 })) }));
    return t;
  };
  const typed: string[][] = [];
  const text: string[][] = [];
  for (const { data } of rows) {
    const msg = parsePgoutput(data);
    if (msg.tag === 'begin') {
      typed.push([]);
      text.push([]);
    } else if (msg.tag === 'relation') await cache.remember(msg);
    else if (msg.tag === 'insert') {
      const sql = renderInsert(cache.get(msg.relationId), msg.newTuple).trimEnd();
      typed.at(-1)!.push(sql);
      text.at(-1)!.push(sql);
    } else if (msg.tag === 'update' || msg.tag === 'delete') {
      const rel = cache.get(msg.relationId);
      const old = { kind: 'old' as const, tuple: msg.oldTuple! };
      typed.at(-1)!.push((msg.tag === 'update' ? renderUpdate(rel, msg.newTuple, old) : renderDelete(rel, old)).trimEnd());
      text.at(-1)!.push((msg.tag === 'update' ? renderUpdate(asText(rel), msg.newTuple, old) : renderDelete(asText(rel), old)).trimEnd());
    }
  }
  return { typed: typed.filter((t) => t.length > 0), text: text.filter((t) => t.length > 0) };
}

/** The captured changes as one script each (header first). */
async function capture(client: Client, cache: RelationCache): Promise<{ typed: string; text: string }> {
  const { typed, text } = await captureTxns(client, cache);
  const script = (txns: string[][]) =>
    `${HEADER}${txns
      .flat()
      .map((l) => `${l}\n`)
      .join('')}`;
  return { typed: script(typed), text: script(text) };
}

async function rowsOf(client: Client, table: string): Promise<string[]> {
  const { rows } = await client.query<{ r: string }>(`SELECT row_.*::text AS r FROM public.${table} row_ ORDER BY 1`);
  return rows.map((r) => r.r);
}

describe('REPLICA IDENTITY FULL: the typed form chooses the row the text form chooses', () => {
  let pg: PgCluster;
  const clients: Record<string, Client> = {};
  let cache: RelationCache;
  beforeAll(async () => {
    pg = await startCluster();
    for (const db of ['src', 'typed', 'text', 'merged', 'plain', 'old']) {
      await pg.createDatabase(db);
      pg.psql(['-q'], db, TYPES);
      clients[db] = await pg.connect(db);
      await clients[db].query(PINNED);
    }
    // Decoding reads only flushed WAL: the source's commits wait for their flush.
    await clients.src!.query('SET synchronous_commit = on');
    await pg.query('CREATE PUBLICATION pub FOR ALL TABLES', [], 'src');
    await pg.query("SELECT pg_create_logical_replication_slot('s', 'pgoutput')", [], 'src');
    cache = new RelationCache(catalogFactsLookup(clients.src!));
  }, 120_000);
  afterAll(async () => {
    for (const c of Object.values(clients)) await c.end();
    await pg?.stop();
  }, 60_000);

  let run = 0;
  it('same rows after random changes of single physical rows, duplicates, NULLs and =-equal values included', async () => {
    await fc.assert(
      fc.asyncProperty(rowsArb, fc.array(opArb, { minLength: 1, maxLength: 8 }), async (initial, ops) => {
        const table = `f${run++}`;
        const ddl = `CREATE TABLE public.${table} (${COLUMNS.map(([n, t]) => `${n} ${t}`).join(', ')});
          ALTER TABLE public.${table} REPLICA IDENTITY FULL;
          CREATE INDEX ON public.${table} (a); CREATE INDEX ON public.${table} (n); CREATE INDEX ON public.${table} (c);`;
        for (const c of Object.values(clients)) await c.query(ddl);
        const src = clients.src!;
        await src.query(`INSERT INTO public.${table} VALUES ${initial.map((r) => `(${r.map(lit).join(', ')})`).join(', ')}`);
        for (const op of ops) {
          const { rows } = await src.query<{ ctid: string }>(`SELECT ctid::text FROM public.${table}`);
          if (rows.length === 0) break;
          const ctid = rows[op.row % rows.length]!.ctid;
          if (op.kind === 'delete') await src.query(`DELETE FROM public.${table} WHERE ctid = '${ctid}'`);
          else {
            const [name, , values] = COLUMNS[op.column]!;
            await src.query(`UPDATE public.${table} SET ${name} = ${lit(values[op.value % values.length]!)} WHERE ctid = '${ctid}'`);
          }
        }
        const { typed, text } = await capture(src, cache);
        await clients.typed!.query(typed);
        await clients.text!.query(text);
        const expected = await rowsOf(src, table);
        expect(await rowsOf(clients.text!, table)).toEqual(expected);
        expect(await rowsOf(clients.typed!, table)).toEqual(expected);
      }),
      { numRuns: 40 },
    );
  });

  it('writes typed equality for every column type with one, and the target answers it with an index', async () => {
    await clients.src!.query(`CREATE TABLE public.shape (${COLUMNS.map(([n, t]) => `${n} ${t}`).join(', ')});
      ALTER TABLE public.shape REPLICA IDENTITY FULL;
      INSERT INTO public.shape VALUES ('1', '1.0', '-0', 'x', 'A', 'x ', '{"k":1}', 'sad', '1.00'), ('2', '1.0', '-0', 'x', 'A', 'x ', '{"k":1}', 'sad', '1.00');
      DELETE FROM public.shape WHERE a = 1;`);
    const { typed } = await capture(clients.src!, cache);
    const del = typed.split('\n').find((l) => l.startsWith('DELETE FROM ONLY public.shape '))!;
    expect(del).toBe(
      "DELETE FROM ONLY public.shape WHERE ctid = (SELECT ctid FROM ONLY public.shape WHERE a = '1'::integer AND n = '1.0'::numeric AND format('%s', n) = '1.0'" +
        " AND x = '-0'::double precision AND format('%s', x) = '-0' AND t = 'x'::text AND format('%s', t) = 'x'" +
        " AND c = 'A'::public.citext AND format('%s', c) = 'A' AND h = 'x '::bpchar AND format('%s', h) = 'x '" +
        ` AND format('%s', j) = '{"k":1}' AND e = 'sad'::public.mood AND d = '1.00'::numeric AND format('%s', d) = '1.00' LIMIT 1);`,
    );
    const target = clients.typed!;
    await target.query(`CREATE TABLE public.shape (${COLUMNS.map(([n, t]) => `${n} ${t}`).join(', ')}); CREATE INDEX shape_a ON public.shape (a);
      INSERT INTO public.shape SELECT i, i, i, 'x', 'A', 'x', '{}', 'sad', 1 FROM generate_series(1, 20000) i; ANALYZE public.shape;`);
    const { rows } = await target.query<{ 'QUERY PLAN': string }>(`${HEADER}EXPLAIN ${del}`.split('\n').pop()!);
    expect(rows.map((r) => r['QUERY PLAN']).join('\n')).toMatch(/Index (Only )?Scan using shape_a/);
  });

  const KEYED = 'id int PRIMARY KEY, n numeric, x float8, t text, c public.citext, j json';
  const keyedValue = (column: number, pick: number) => COLUMNS[[1, 2, 3, 4, 6][column]!]![2][pick % COLUMNS[[1, 2, 3, 4, 6][column]!]![2].length]!;
  const keyedOp = fc.record({
    kind: fc.constantFrom('insert', 'update', 'update', 'delete', 'rekey'),
    id: fc.integer({ min: 1, max: 4 }),
    to: fc.integer({ min: 1, max: 4 }),
    column: fc.nat(4),
    pick: fc.nat(),
    txn: fc.boolean(),
  });

  let keyedRun = 0;
  it("the applier merges FULL changes by the target's primary key and reaches the state of the lines as written (typed and older text form)", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(keyedOp, { minLength: 1, maxLength: 16 }), async (ops) => {
        const table = `k${keyedRun++}`;
        const ddl = `CREATE TABLE public.${table} (${KEYED}); ALTER TABLE public.${table} REPLICA IDENTITY FULL;`;
        for (const c of Object.values(clients)) await c.query(ddl);
        const src = clients.src!;
        const present = new Set<number>();
        await src.query('BEGIN');
        for (const op of ops) {
          const values = [0, 1, 2, 3, 4].map((c) => lit(keyedValue(c, op.pick + c)));
          if (op.kind === 'insert' && !present.has(op.id)) {
            await src.query(`INSERT INTO public.${table} VALUES (${op.id}, ${values.join(', ')})`);
            present.add(op.id);
          } else if (op.kind === 'update' && present.has(op.id)) {
            await src.query(`UPDATE public.${table} SET ${['n', 'x', 't', 'c', 'j'][op.column]} = ${values[op.column]} WHERE id = ${op.id}`);
          } else if (op.kind === 'delete' && present.has(op.id)) {
            await src.query(`DELETE FROM public.${table} WHERE id = ${op.id}`);
            present.delete(op.id);
          } else if (op.kind === 'rekey' && present.has(op.id) && !present.has(op.to)) {
            await src.query(`UPDATE public.${table} SET id = ${op.to} WHERE id = ${op.id}`);
            present.delete(op.id);
            present.add(op.to);
          }
          if (op.txn) {
            await src.query('COMMIT');
            await src.query('BEGIN');
          }
        }
        await src.query('COMMIT');
        const { typed, text } = await captureTxns(src, cache);
        const expected = await rowsOf(src, table);
        const dir = mkdtempSync(join(tmpdir(), 'pgincr-full-merge-'));
        try {
          for (const [db, txns, mergeInserts] of [
            ['merged', typed, true],
            ['plain', typed, false],
            ['old', text, true],
          ] as const) {
            const recorder = new Recorder(null as never, join(dir, db), parseLsn('0/3000000'));
            for (const t of txns) recorder.record(t);
            if (txns.length > 0) recorder.cut(false);
            await applySegments({
              profile: pg.profile(db),
              restoreId: `${db}_${table}`,
              segments: recorder.segments.map((x) => x.path),
              stopAt: { kind: 'latest' },
              startLsn: '0/3000000',
              mergeInserts,
            });
            await finishRestore(pg.profile(db), `${db}_${table}`);
            expect([db, await rowsOf(clients[db]!, table)]).toEqual([db, expected]);
          }
        } finally {
          rmSync(dir, { recursive: true, force: true });
        }
      }),
      { numRuns: 20 },
    );
  });

  it('on a keyed target, the merged batch holds no row lookup by ctid: every FULL change is joined on the key', async () => {
    const src = clients.src!;
    await src.query(`CREATE TABLE public.kk (${KEYED}); ALTER TABLE public.kk REPLICA IDENTITY FULL;
      INSERT INTO public.kk SELECT i, 1.0, -0, 'x', 'A', '{}' FROM generate_series(1, 5) i;
      UPDATE public.kk SET n = 2 WHERE id < 4; DELETE FROM public.kk WHERE id = 5;`);
    await clients.merged!.query(`CREATE TABLE public.kk (${KEYED})`);
    const { typed, text } = await captureTxns(src, cache);
    const shapes = new TableShapes();
    for (const txns of [typed, text]) {
      const lines = parseBatch(txns.map((t) => ({ sql: t.map((l) => `${l}\n`).join('') })));
      await shapes.load(clients.merged!, batchTables(lines));
      const sql = rewriteBatch(lines, (t) => shapes.get(t));
      expect(sql).not.toContain('ctid');
      expect(sql.split('\n').filter((l) => l.startsWith('UPDATE ONLY public.kk AS t SET n = v.s0 FROM (VALUES '))).toHaveLength(1);
      expect(sql.split('\n').filter((l) => l.startsWith('DELETE FROM ONLY public.kk AS t USING (VALUES '))).toHaveLength(1);
    }
  });
});
