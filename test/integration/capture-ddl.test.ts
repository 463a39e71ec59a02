/**
 * DDL in the capture stream, end to end (capture engine → segments → psql ON_ERROR_STOP):
 * - CREATE TABLE … AS / SELECT … INTO: their rows arrive before ddl_command_end, so the DDL is
 *   rendered at the ddl_command_start row (capture schema v2);
 * - temporary tables (created, used, dropped; also inside a multi-statement query) are not
 *   recorded, and the DDL around them is still matched to the right statement;
 * - a function whose body has lines that look like segment markers replays exactly.
 * The source database is installed at schema v1 and upgraded, as an existing install would be.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startCluster, type PgCluster } from '../helpers/pg-cluster';
import { parseLsn, formatLsn, type Lsn } from '../../src/core/lsn';
import { MIGRATIONS, migrate } from '../../src/adapters/pg/migrations';
import { runCapture, type CaptureInput } from '../../src/capture/capture-engine';
import { createCaptureDeps } from '../../src/capture/capture-deps';
import { waitFor } from '../helpers/wait';

jest.setTimeout(180_000);

let pg: PgCluster;
const dirs: string[] = [];
const BASE_SCHEMA = 'CREATE TABLE src (id int PRIMARY KEY, v text);';

beforeAll(async () => {
  pg = await startCluster();
});
afterAll(async () => {
  await pg?.stop();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function tempDir(prefix: string): string {
  const d = mkdtempSync(join(tmpdir(), prefix));
  dirs.push(d);
  return d;
}

async function lsnOf(sql: string, db: string): Promise<Lsn> {
  return parseLsn((await pg.query<{ l: string }>(sql, [], db))[0]!.l);
}

/** Source at schema v1, upgraded to the current version; base schema, publication, slot. */
async function setupSource(db: string, slot: string): Promise<Lsn> {
  await pg.createDatabase(db);
  const c = await pg.connect(db);
  try {
    expect((await migrate(c, MIGRATIONS.slice(0, 1))).applied).toEqual([1]);
    expect((await migrate(c)).applied).toEqual(MIGRATIONS.slice(1).map((m) => m.version));
    await c.query(BASE_SCHEMA);
    await c.query('CREATE PUBLICATION p FOR ALL TABLES');
    const { rows } = await c.query<{ lsn: string }>(`SELECT lsn::text FROM pg_create_logical_replication_slot($1, 'pgoutput')`, [slot]);
    return parseLsn(rows[0]!.lsn);
  } finally {
    await c.end();
  }
}

/** Captures until the slot has confirmed the WAL position of now; seals on exit. */
async function captureAll(db: string, slot: string, chain: string, base: Lsn): Promise<void> {
  const target = await lsnOf('SELECT pg_current_wal_insert_lsn()::text AS l', db);
  const input: CaptureInput = {
    slot,
    publication: 'p',
    segmentMaxBytes: 1 << 20,
    segmentMaxAgeMs: 60_000,
    runForMs: 120_000,
    heartbeatEveryMs: 1000,
    statusEveryMs: 200,
    sequenceEveryMs: 0,
    idleMessageEveryMs: 0,
    compress: 'none',
    ddlInFunction: 'fail',
    lastDurableLsn: base,
    sealOnExit: true,
  };
  const controller = new AbortController();
  const deps = createCaptureDeps({ profile: pg.profile(db), chainDir: chain });
  const done = runCapture(deps, input, { heartbeat: () => undefined, signal: controller.signal, rotateRequested: () => false, now: () => Date.now() });
  let failed = false;
  done.catch(() => (failed = true));
  const confirmed = () => lsnOf(`SELECT confirmed_flush_lsn::text AS l FROM pg_replication_slots WHERE slot_name = '${slot}'`, db);
  await waitFor(`slot ${slot} to reach ${formatLsn(target)}`, async () => failed || (await confirmed()) >= target, 60_000, 50);
  controller.abort();
  await done;
}

function segmentTexts(chain: string): string[] {
  const segs = join(chain, 'segments');
  return readdirSync(segs)
    .filter((d) => /^\d{4}-\d\d-\d\d$/.test(d))
    .sort()
    .flatMap((d) =>
      readdirSync(join(segs, d))
        .sort()
        .map((f) => readFileSync(join(segs, d, f)).toString('latin1')),
    );
}

async function replay(chain: string, target: string): Promise<void> {
  await pg.createDatabase(target);
  await pg.query(BASE_SCHEMA, [], target);
  const dir = tempDir('pgincr-replay-');
  segmentTexts(chain).forEach((text, i) => {
    const file = join(dir, `${i}.sql`);
    writeFileSync(file, Buffer.from(text, 'latin1'));
    execFileSync('psql', ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-f', file], { env: { ...process.env, ...pg.env(target) }, stdio: 'pipe' });
  });
}

/** Every user table (name → row count and content checksum) and function source. */
async function snapshot(db: string): Promise<Record<string, unknown>> {
  const tables = await pg.query<{ t: string }>(
    `SELECT format('%I.%I', schemaname, tablename) AS t FROM pg_tables WHERE schemaname = 'public' ORDER BY 1`,
    [],
    db,
  );
  const out: Record<string, unknown> = {};
  for (const { t } of tables) {
    out[t] = (await pg.query(`SELECT count(*)::text AS n, coalesce(string_agg(md5(x::text), ',' ORDER BY md5(x::text)), '') AS s FROM ${t} x`, [], db))[0];
  }
  out.functions = await pg.query(`SELECT proname, prosrc FROM pg_proc WHERE pronamespace = 'public'::regnamespace ORDER BY 1`, [], db);
  return out;
}

const MARKER_FUNCTION = `CREATE FUNCTION marker_fn() RETURNS text LANGUAGE plpgsql AS $f$
DECLARE s text := '
BEGIN; -- xid 42 commit_lsn 0/1 committed 2026-01-01 00:00:00.000000+00
COMMIT; -- xid 42 end_lsn 0/2 changes 0
-- end of segment: transactions 1';
BEGIN
  RETURN s;
END
$f$`;

test('CREATE TABLE AS, SELECT INTO, temporary tables and marker-like DDL text replay exactly', async () => {
  const base = await setupSource('ddlsrc', 'ddl_slot');
  const chain = join(tempDir('pgincr-chain-'), '7000000000000000001-ddlsrc');
  const c = await pg.connect('ddlsrc');
  try {
    await c.query(`INSERT INTO src SELECT g, 'v' || g FROM generate_series(1, 5) g`);
    // Each statement sent on its own, in one transaction.
    await c.query('BEGIN');
    await c.query('CREATE TABLE t2 AS SELECT id, v FROM src');
    await c.query('SELECT * INTO t3 FROM src WHERE id > 2');
    await c.query(`INSERT INTO t2 VALUES (100, 'x')`);
    await c.query('COMMIT');
    // One multi-statement query string.
    await c.query(`CREATE TABLE t4 AS SELECT 1 AS a; SELECT 2 AS b INTO t5; INSERT INTO t4 VALUES (7); CREATE TABLE t6 (k int PRIMARY KEY)`);
    // Temporary tables created, used and dropped inside captured transactions.
    await c.query('BEGIN');
    await c.query('CREATE TEMP TABLE tmp (a int)');
    await c.query('INSERT INTO tmp VALUES (1), (2)');
    await c.query('CREATE TEMP TABLE tmp2 AS SELECT * FROM src');
    await c.query('CREATE INDEX ON tmp (a)');
    await c.query(`INSERT INTO src SELECT a + 10, 'from tmp' FROM tmp`);
    await c.query('DROP TABLE tmp');
    await c.query('DROP TABLE tmp2');
    await c.query('COMMIT');
    await c.query(`CREATE TEMP TABLE tmp3 (a int); CREATE TABLE keep (a int PRIMARY KEY); DROP TABLE tmp3; DROP TABLE t6; INSERT INTO keep VALUES (1)`);
    await c.query(MARKER_FUNCTION);
  } finally {
    await c.end();
  }
  const history = await pg.query<{ tag: string; ids: string }>(
    `SELECT command_tag AS tag, object_identities::text AS ids FROM pgincr.ddl_history ORDER BY id`,
    [],
    'ddlsrc',
  );
  expect(history.filter((h) => /tmp/.test(h.ids))).toEqual([]); // nothing recorded for temporary objects

  await captureAll('ddlsrc', 'ddl_slot', chain, base);
  const text = segmentTexts(chain).join('');
  expect(text).toContain('CREATE TABLE t2 AS SELECT id, v FROM src WITH NO DATA;');
  expect(text).toContain('CREATE TABLE t3 AS SELECT * FROM src WHERE id > 2 WITH NO DATA;');
  expect(text).toContain("DO $pgincr$ BEGIN EXECUTE E'CREATE FUNCTION marker_fn()");
  // The DDL comes before the rows of the table it creates.
  expect(text.indexOf('CREATE TABLE t2 AS')).toBeLessThan(text.indexOf('INSERT INTO public.t2'));
  expect(text.indexOf('CREATE TABLE t4 AS')).toBeLessThan(text.indexOf('INSERT INTO public.t4'));
  for (const segment of segmentTexts(chain)) {
    const body = segment.split('\n').filter((l) => l.startsWith('BEGIN; -- xid 42') || l.startsWith('COMMIT; -- xid 42'));
    expect(body).toEqual([]);
  }

  await replay(chain, 'ddldst');
  const source = await snapshot('ddlsrc');
  expect(Object.keys(source).sort()).toEqual(['functions', 'public.keep', 'public.src', 'public.t2', 'public.t3', 'public.t4', 'public.t5']);
  expect(await snapshot('ddldst')).toEqual(source);
  const call = 'SELECT marker_fn() AS r';
  expect(await pg.query(call, [], 'ddldst')).toEqual(await pg.query(call, [], 'ddlsrc'));
});

test('ALTER SCHEMA … RENAME: later changes name the new schema (pgoutput sends no new Relation message)', async () => {
  const base = await setupSource('rensrc', 'ren_slot');
  const chain = join(tempDir('pgincr-chain-'), '7000000000000000002-rensrc');
  const c = await pg.connect('rensrc');
  try {
    await c.query(`CREATE SCHEMA s0; CREATE TABLE s0.t (id int PRIMARY KEY, v text)`);
    await c.query(`INSERT INTO s0.t VALUES (1, 'before'), (2, 'before')`); // Relation message sent as s0.t
    await c.query('ALTER SCHEMA s0 RENAME TO "S 1"');
    await c.query(`INSERT INTO "S 1".t VALUES (3, 'after')`);
    await c.query(`UPDATE "S 1".t SET v = 'updated' WHERE id = 1`);
    await c.query(`BEGIN; DELETE FROM "S 1".t WHERE id = 2; ALTER SCHEMA "S 1" RENAME TO s2; INSERT INTO s2.t VALUES (4, 'same txn'); COMMIT`);
  } finally {
    await c.end();
  }
  await captureAll('rensrc', 'ren_slot', chain, base);
  const text = segmentTexts(chain).join('');
  expect(text).toContain(`INSERT INTO "S 1".t (id, v) VALUES ('3', 'after');`);
  expect(text).toContain(`UPDATE ONLY "S 1".t SET v = 'updated' WHERE id = '1';`);
  expect(text).toContain(`DELETE FROM ONLY "S 1".t WHERE id = '2';`);
  expect(text).toContain(`INSERT INTO s2.t (id, v) VALUES ('4', 'same txn');`);
  await replay(chain, 'rendst');
  const rows = (db: string) => pg.query(`SELECT id, v FROM s2.t ORDER BY id`, [], db);
  expect(await rows('rendst')).toEqual(await rows('rensrc'));
});
