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
