/**
 * The applier with a source transaction larger than a batch (src/restore/apply-large.ts): one
 * target transaction sent in pieces. Small limits here (a 64 KiB batch, 8 KiB pieces) make a
 * transaction of ~1 MiB many times the piece size: inserts (merged into COPY), updates and
 * deletes of its own rows, DDL in the middle (a function whose body holds row-like lines and the
 * line that ends a DDL block), rows of the table that DDL creates, in a gzipped segment and in a
 * plain one. Must hold: the same state as the whole transaction applied as written in one query;
 * nothing of it after a failure mid-way, and exactly once after the retry.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startCluster, type PgCluster } from '../helpers/pg-cluster';
import { Recorder } from '../helpers/restore-fixture';
import { tableSums } from '../helpers/workload';
import { formatLsn, parseLsn } from '../../src/core/lsn';
import { DdlOrdinals, initDdlParser } from '../../src/core/ddl/extract';
import { DDL_BLOCK_END } from '../../src/core/restore/ddl-region';
import { renderDdlHistoryRow } from '../../src/core/sql/capture-tables';
import { renderDelete, renderInsert, renderUpdate, type RelationInfo } from '../../src/core/sql/render';
import type { Tuple } from '../../src/core/decoding/model';
import { applySegments, type ApplyOptions } from '../../src/restore/apply-segments';

jest.setTimeout(180_000);
const BASE_LSN = parseLsn('0/3000000');

const table = (name: string): RelationInfo => ({
  relationId: 1,
  schema: 'public',
  table: name,
  replicaIdentity: 'd',
  columns: ['id', 'v'].map((c) => ({ name: c, typeOid: 25, typeMod: -1, isKey: c === 'id' })),
  identityAlways: new Set(),
  generated: new Set(),
});
const t = table('t');
const later = table('Later "one"');
// The fixture writes statements as UTF-8: a multi-byte character 100 times a row.
const row = (id: number, tag = 'v', fill = '·'): Tuple => [
  { kind: 'text', value: String(id) },
  { kind: 'text', value: `${tag}${id} it's, ('x');\n${fill.repeat(100)}` },
];
const line = (sql: string) => sql.trimEnd();

function ddl(query: string, commandTag: string): string {
  return renderDdlHistoryRow(
    { occurredAt: '2026-01-01 00:00:00+00', roleName: 'postgres', searchPath: '', commandTag, objectIdentities: ['public.x'], query },
    { ordinals: new DdlOrdinals(), ddlInFunction: 'fail' },
  ).trimEnd();
}

const FUNCTION_BODY = `\n${line(renderInsert(t, row(-1, 'v', '-')))}\n${DDL_BLOCK_END}\nRESET ROLE;\n`;
const SCHEMA = 'CREATE TABLE public.t (id int PRIMARY KEY, v text)';
const N = 4000;

describe('applier: a transaction larger than a batch', () => {
  let pg: PgCluster;
  let dir: string;
  let paths: string[];
  let bigBytes = 0;

  beforeAll(async () => {
    await initDdlParser();
    pg = await startCluster();
    dir = mkdtempSync(join(tmpdir(), 'pgincr-large-'));
    const recorder = new Recorder(null as never, dir, BASE_LSN);
    recorder.record([line(renderInsert(t, row(0)))]);
    const big = [
      ...Array.from({ length: N }, (_v, i) => line(renderInsert(t, row(i + 1)))),
      ...Array.from({ length: N / 4 }, (_v, i) => line(renderUpdate(t, row(i * 4 + 1, 'u')))),
      ...Array.from({ length: N / 8 }, (_v, i) => line(renderDelete(t, { kind: 'key', tuple: row(i * 8 + 2) }))),
      ddl(`CREATE FUNCTION public.f() RETURNS void LANGUAGE sql AS $$${FUNCTION_BODY}$$`, 'CREATE FUNCTION'),
      ddl('CREATE TABLE public."Later ""one""" (id int PRIMARY KEY, v text)', 'CREATE TABLE'),
      ...Array.from({ length: N / 2 }, (_v, i) => line(renderInsert(later, row(i)))),
      ...Array.from({ length: N / 2 }, (_v, i) => line(renderInsert(t, row(N + i + 1)))),
    ];
    bigBytes = big.reduce((n, s) => n + Buffer.byteLength(s) + 1, 0);
    recorder.record(big);
    recorder.record([line(renderUpdate(t, row(3, 'after')))]);
    recorder.cut(true);
    recorder.record([line(renderDelete(t, { kind: 'key', tuple: row(5) }))]);
    recorder.cut(false);
    paths = recorder.segments.map((s) => s.path);
  });

  afterAll(async () => {
    await pg?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const options = (db: string, more: Partial<ApplyOptions> = {}): ApplyOptions => ({
    profile: pg.profile(db),
    restoreId: db,
    segments: paths,
    stopAt: { kind: 'latest' },
    startLsn: formatLsn(BASE_LSN),
    ...more,
  });

  async function state(db: string) {
    const [fn] = await pg.query<{ src: string }>("SELECT prosrc AS src FROM pg_proc WHERE proname = 'f'", [], db);
    return { sums: await tableSums(pg, db), body: fn?.src };
  }

  it('applies it in pieces, merged, to the state of the whole transaction as written', async () => {
    expect(bigBytes).toBeGreaterThan(64 * 1024 * 10);
    await pg.createDatabase('whole');
    await pg.query(SCHEMA, [], 'whole');
    const whole = await applySegments({ ...options('whole'), mergeInserts: false, batchBytes: 1 << 30 });
    expect(whole.largeTransactions).toBe(0);

    await pg.createDatabase('pieces');
    await pg.query(SCHEMA, [], 'pieces');
    const beats: number[] = [];
    const r = await applySegments({
      ...options('pieces'),
      batchBytes: 64 * 1024,
      pieceBytes: 8 * 1024,
      onProgress: (p) => void beats.push(p.bytesDone),
    });
    expect(r.appliedTransactions).toBe(whole.appliedTransactions);
    expect(r.largeTransactions).toBe(1);
    expect(r.pieces).toBeGreaterThan((bigBytes / (8 * 1024)) * 0.9);
    expect(r.pieces).toBeLessThan((bigBytes / (8 * 1024)) * 1.1);
    // A heartbeat per piece: a long transaction keeps the activity alive.
    expect(beats.length).toBeGreaterThan(r.pieces);
    const expected = await state('whole');
    expect(await state('pieces')).toEqual(expected);
    expect(expected.body).toBe(FUNCTION_BODY);
    expect((expected.sums['"public"."Later ""one"""'] as { rows: string }).rows).toBe(String(N / 2));
  });

  it('leaves nothing of it when stopped mid-way; the retry applies it exactly once', async () => {
    await pg.createDatabase('resumed');
    await pg.query(SCHEMA, [], 'resumed');
    const abort = new AbortController();
    let pieces = 0;
    const opts = options('resumed', { batchBytes: 64 * 1024, pieceBytes: 8 * 1024 });
    await expect(
      applySegments({
        ...opts,
        signal: abort.signal,
        onProgress: () => {
          if (++pieces === 40) abort.abort(new Error('stopped by the test'));
        },
      }),
    ).rejects.toThrow('stopped by the test');
    // Only the first small transaction: none of the large one's rows, nor its DDL.
    const [rows] = await pg.query<{ n: number; later: string | null }>(
      `SELECT count(*)::int AS n, to_regclass('public."Later ""one"""')::text AS later FROM public.t`,
      [],
      'resumed',
    );
    expect(rows).toEqual({ n: 1, later: null });
    const r = await applySegments(opts);
    expect(r.skippedTransactions).toBe(1);
    expect(await state('resumed')).toEqual(await state('whole'));
  });
});

/**
 * A piece whose merged form fails (apply-large.ts: the savepoint fallback). Each group of the
 * large transaction is valid as written but not in its merged order, which moves a row's first
 * update into one round with another change of the same email: in even groups two updates of
 * one row and one of the next (a → q → r, then b → q; merged, both rows set to q in one UPDATE),
 * in odd groups two updates of one row and an INSERT of its first email (a → m → n, then a new
 * row m; merged, the COPY of the INSERT runs before the second update). Either way a unique
 * violation on `email`, so nearly every piece is rolled back to its savepoint and sent as
 * written. Each group first inserts rows into a table without a key (merged as COPY, before the
 * failing statement): a piece applied merged and then again as written would leave them twice.
 */
describe('applier: a large transaction whose merged pieces fail', () => {
  const SCHEMA2 = 'CREATE TABLE public.uniq (id int PRIMARY KEY, email text NOT NULL UNIQUE); CREATE TABLE public.notes (v text)';
  const GROUPS = 120;
  const NOTES = 20;
  const uniq: RelationInfo = { ...table('uniq'), columns: ['id', 'email'].map((c) => ({ name: c, typeOid: 25, typeMod: -1, isKey: c === 'id' })) };
  const notes: RelationInfo = { ...table('notes'), replicaIdentity: 'n', columns: [{ name: 'v', typeOid: 25, typeMod: -1, isKey: false }] };
  const pair = (id: number, email: string): Tuple => [
    { kind: 'text', value: String(id) },
    { kind: 'text', value: email },
  ];
  let pg: PgCluster;
  let dir: string;
  let paths: string[];

  beforeAll(async () => {
    pg = await startCluster();
    dir = mkdtempSync(join(tmpdir(), 'pgincr-large-fallback-'));
    const recorder = new Recorder(null as never, dir, BASE_LSN);
    recorder.record(
      Array.from({ length: GROUPS }, (_v, k) => [
        line(renderInsert(uniq, pair(2 * k + 1, `a${k}`))),
        line(renderInsert(uniq, pair(2 * k + 2, `b${k}`))),
      ]).flat(),
    );
    recorder.record(
      Array.from({ length: GROUPS }, (_v, k) => [
        ...Array.from({ length: NOTES }, (_w, i) => line(renderInsert(notes, [{ kind: 'text', value: `group ${k} note ${i} ${'·'.repeat(60)}` }]))),
        ...(k % 2 === 0
          ? [
              line(renderUpdate(uniq, pair(2 * k + 1, `q${k}`))),
              line(renderUpdate(uniq, pair(2 * k + 1, `r${k}`))),
              line(renderUpdate(uniq, pair(2 * k + 2, `q${k}`))),
            ]
          : [
              line(renderUpdate(uniq, pair(2 * k + 1, `m${k}`))),
              line(renderUpdate(uniq, pair(2 * k + 1, `n${k}`))),
              line(renderInsert(uniq, pair(10_000 + k, `m${k}`))),
            ]),
      ]).flat(),
    );
    recorder.cut(false);
    paths = recorder.segments.map((s) => s.path);
  });

  afterAll(async () => {
    await pg?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const apply = async (db: string, more: Partial<ApplyOptions>) => {
    await pg.createDatabase(db);
    await pg.query(SCHEMA2, [], db);
    return applySegments({ profile: pg.profile(db), restoreId: db, segments: paths, stopAt: { kind: 'latest' }, startLsn: formatLsn(BASE_LSN), ...more });
  };

  it('rolls each failed piece back to its savepoint and applies it once, as written', async () => {
    const whole = await apply('fallback_whole', { mergeInserts: false, batchBytes: 1 << 30 });
    expect(whole.largeTransactions).toBe(0);
    const r = await apply('fallback_pieces', { batchBytes: 64 * 1024, pieceBytes: 8 * 1024 });
    expect(r.largeTransactions).toBe(1);
    expect(r.mergeFallbacks).toBe(1);
    // Nearly every piece holds a whole group's three updates (a group is ~3 KiB, a piece 8 KiB).
    expect(r.pieces).toBeGreaterThan(30);
    expect(r.pieceFallbacks).toBeGreaterThan(r.pieces * 0.8);
    process.stderr.write(`large transaction: ${r.pieces} pieces, ${r.pieceFallbacks} rolled back to their savepoint and sent as written\n`);
    expect(await tableSums(pg, 'fallback_pieces')).toEqual(await tableSums(pg, 'fallback_whole'));
    const [rows] = await pg.query<{ notes: number; distinct_notes: number; uniq: number; emails: string }>(
      `SELECT (SELECT count(*) FROM public.notes)::int AS notes, (SELECT count(DISTINCT v) FROM public.notes)::int AS distinct_notes,
              (SELECT count(*) FROM public.uniq)::int AS uniq,
              (SELECT string_agg(DISTINCT left(email, 1), '' ORDER BY left(email, 1)) FROM public.uniq) AS emails`,
      [],
      'fallback_pieces',
    );
    expect(rows).toEqual({ notes: GROUPS * NOTES, distinct_notes: GROUPS * NOTES, uniq: GROUPS * 2 + GROUPS / 2, emails: 'bmnqr' });
  });
});
