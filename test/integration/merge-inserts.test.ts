/**
 * The applier's INSERT merging against a real target: the same state as applying the statements
 * as written (rows, a function whose body holds INSERT lines), and no merging once a trigger
 * that would see the difference can fire (an ENABLE ALWAYS statement trigger created mid-stream).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startCluster, type PgCluster } from '../helpers/pg-cluster';
import { Recorder } from '../helpers/restore-fixture';
import { tableSums } from '../helpers/workload';
import { formatLsn, parseLsn } from '../../src/core/lsn';
import { DdlOrdinals, initDdlParser } from '../../src/core/ddl/extract';
import { renderDdlHistoryRow } from '../../src/core/sql/capture-tables';
import { renderInsert, renderUpdate, type RelationInfo } from '../../src/core/sql/render';
import type { Tuple } from '../../src/core/decoding/model';
import { applySegments } from '../../src/restore/apply-segments';

jest.setTimeout(120_000);
const BASE_LSN = parseLsn('0/3000000');

const t: RelationInfo = {
  relationId: 1,
  schema: 'public',
  table: 't',
  replicaIdentity: 'd',
  columns: ['id', 'v'].map((name) => ({ name, typeOid: 25, typeMod: -1, isKey: name === 'id' })),
  identityAlways: new Set(),
  generated: new Set(),
};
const row = (id: number): Tuple => [
  { kind: 'text', value: String(id) },
  { kind: 'text', value: `v${id} it's, ('x');\n` },
];
const inserts = (from: number, n: number) => Array.from({ length: n }, (_, i) => renderInsert(t, row(from + i)).trimEnd());

function ddl(query: string, commandTag: string): string {
  return renderDdlHistoryRow(
    { occurredAt: '2026-01-01 00:00:00+00', roleName: 'postgres', searchPath: '', commandTag, objectIdentities: ['public.x'], query },
    { ordinals: new DdlOrdinals(), ddlInFunction: 'fail' },
  ).trimEnd();
}

const FUNCTION_BODY = `\n${inserts(100, 3).join('\n')}\n`;
const SCHEMA = 'CREATE TABLE public.t (id int PRIMARY KEY, v text); CREATE TABLE public.stmts (n int); INSERT INTO public.stmts VALUES (0)';

describe('applier: INSERT merging', () => {
  let pg: PgCluster;
  let dir: string;
  let paths: string[];

  beforeAll(async () => {
    await initDdlParser();
    pg = await startCluster();
    dir = mkdtempSync(join(tmpdir(), 'pgincr-merge-'));
    const recorder = new Recorder(null as never, dir, BASE_LSN);
    recorder.record([...inserts(1, 5), renderUpdate(t, row(3)).trimEnd(), ...inserts(6, 2)]);
    recorder.record([
      ...inserts(8, 2),
      ddl(`CREATE FUNCTION public.f() RETURNS void LANGUAGE sql AS $$${FUNCTION_BODY}$$`, 'CREATE FUNCTION'),
      ...inserts(10, 2),
    ]);
    recorder.record([
      ddl(
        'CREATE FUNCTION public.count_stmt() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN UPDATE public.stmts SET n = n + 1; RETURN NULL; END$$',
        'CREATE FUNCTION',
      ),
      ddl('CREATE TRIGGER c AFTER INSERT ON public.t FOR EACH STATEMENT EXECUTE FUNCTION public.count_stmt()', 'CREATE TRIGGER'),
      ddl('ALTER TABLE public.t ENABLE ALWAYS TRIGGER c', 'ALTER TABLE'),
    ]);
    recorder.record(inserts(20, 4));
    recorder.cut(false);
    paths = recorder.segments.map((s) => s.path);
  });

  afterAll(async () => {
    await pg?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  async function apply(db: string, mergeInserts: boolean) {
    await pg.createDatabase(db);
    await pg.query(SCHEMA, [], db);
    const r = await applySegments({
      profile: pg.profile(db),
      restoreId: db,
      segments: paths,
      stopAt: { kind: 'latest' },
      startLsn: formatLsn(BASE_LSN),
      mergeInserts,
    });
    expect(r.appliedTransactions).toBe(4);
    const [fn] = await pg.query<{ src: string }>("SELECT prosrc AS src FROM pg_proc WHERE proname = 'f'", [], db);
    const [stmts] = await pg.query<{ n: number }>('SELECT n FROM public.stmts', [], db);
    return { sums: await tableSums(pg, db), body: fn?.src, statements: stmts?.n };
  }

  it('restores the same state as the statements as written; DDL text untouched; one statement per row once a trigger can fire', async () => {
    const merged = await apply('merged', true);
    const plain = await apply('plain', false);
    expect(merged).toEqual(plain);
    expect((merged.sums['"public"."t"'] as { rows: string }).rows).toBe('15');
    expect(merged.body).toBe(FUNCTION_BODY);
    // The 4 inserts after the ALWAYS statement trigger appeared: 4 statements, as written.
    expect(merged.statements).toBe(4);
  });
});
