/**
 * The restore side against a real cluster: create target → globals → base → apply segments →
 * sequences → verify, with point-in-time targets, interrupted applies that resume exactly once,
 * corrupt segments and an existing target.
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import type { Client } from 'pg';
import { startCluster, type PgCluster } from '../helpers/pg-cluster';
import { Recorder, type FixtureTxn } from '../helpers/restore-fixture';
import { databaseChecksums } from '../../src/adapters/pg/checksums';
import { formatLsn, parseLsn } from '../../src/core/lsn';
import { createTargetDatabase } from '../../src/restore/create-target';
import { restoreGlobals } from '../../src/restore/restore-globals';
import { restoreBase } from '../../src/restore/restore-base';
import { applySegments, appliedPosition, finishRestore, type ApplyOptions } from '../../src/restore/apply-segments';
import { fixSequences } from '../../src/restore/sequences';
import { takeCheckpoint, verifyTarget } from '../../src/verify/verify-target';
import type { StopTarget } from '../../src/restore/stop-target';
import { waitFor } from '../helpers/wait';

const BASE_LSN = parseLsn('0/3000000');
// jest applies testTimeout only from the top-level config, not per project.
jest.setTimeout(300_000);

describe('restore: base + segments into a real target', () => {
  let pg: PgCluster;
  let dir: string;
  let dumpPath: string;
  let source: Client;
  let recorder: Recorder;
  let expected: Awaited<ReturnType<typeof databaseChecksums>>;
  let seq = 0;

  const segments = () => recorder.segments.map((s) => s.path);
  const txnNo = (n: number): FixtureTxn => recorder.all[n - 1] as FixtureTxn;

  async function restoreInto(stopAt: StopTarget, extra: Partial<ApplyOptions> = {}) {
    const db = `target_${++seq}`;
    const restoreId = `t${seq}`;
    await createTargetDatabase(pg.profile(), db, { restoreId });
    await restoreBase({ profile: pg.profile(db), restoreId, baseLsn: formatLsn(BASE_LSN), dump: { format: 'plain', path: dumpPath } });
    const opts: ApplyOptions = { profile: pg.profile(db), restoreId, segments: segments(), stopAt, ...extra };
    return { db, restoreId, opts };
  }

  async function eventsIn(db: string): Promise<{ count: number; distinct: number; max: number | null }> {
    const [r] = await pg.query<{ count: string; distinct: string; max: number | null }>(
      'SELECT count(*) AS count, count(DISTINCT txn_no) AS distinct, max(txn_no) AS max FROM public.events',
      [],
      db,
    );
    return { count: Number(r!.count), distinct: Number(r!.distinct), max: r!.max };
  }

  beforeAll(async () => {
    pg = await startCluster();
    dir = mkdtempSync(join(tmpdir(), 'pgincr-restore-'));
    await pg.createDatabase('src');
    source = await pg.connect('src');
    await source.query(`
      CREATE TABLE public.accounts (id serial PRIMARY KEY, name text NOT NULL, balance numeric, note text);
      CREATE TABLE public.events (txn_no int, payload text);
      CREATE TABLE public.guarded (id int PRIMARY KEY);
      CREATE FUNCTION public.refuse() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN RAISE EXCEPTION 'trigger fired'; END$$;
      CREATE TRIGGER refuse BEFORE INSERT ON public.guarded FOR EACH ROW EXECUTE FUNCTION public.refuse();
      INSERT INTO public.accounts (name, balance) VALUES ('alice', 10), ('bob', 20), ('carol', 30);`);
    const baseDir = join(dir, 'base', `20260101T000000Z_${BASE_LSN.toString(16).toUpperCase().padStart(16, '0')}`);
    mkdirSync(baseDir, { recursive: true });
    dumpPath = join(baseDir, 'dump.sql.gz');
    execFileSync('bash', ['-c', `pg_dump -d src | gzip > '${dumpPath}'`], { env: { ...process.env, ...pg.env('src') } });

    // The stream: what a capture would have written, run on the source as well (expected state).
    // The source session is a replica too, as the applier's: the refusing trigger never fires.
    await source.query('SET session_replication_role = replica');
    recorder = new Recorder(source, dir, BASE_LSN);
    for (let n = 1; n <= 30; n++) {
      const st = [`INSERT INTO public.events (txn_no, payload) VALUES ('${n}', 'txn ${n}')`];
      if (n % 3 === 0) st.push(`INSERT INTO public.accounts (id, name, balance) VALUES ('${100 + n}', 'user ${n}', '${n}.5')`);
      if (n === 4) st.push("UPDATE public.accounts SET note = E'line one\\nline \\'two\\'' WHERE id = '1'");
      if (n === 7) st.push("INSERT INTO public.accounts (id, name, note) VALUES ('200', 'zoë ☃ 𝄞', NULL)");
      if (n === 8) st.push("INSERT INTO public.guarded (id) VALUES ('1')");
      if (n === 12) st.push('ALTER TABLE public.accounts ADD COLUMN flag boolean');
      if (n === 13) st.push("UPDATE public.accounts SET flag = 't' WHERE id = '2'");
      if (n === 15) st.push("DELETE FROM public.accounts WHERE id = '3'");
      if (n === 16) st.push("SELECT pg_catalog.setval('public.accounts_id_seq', '50', true)");
      await recorder.txn(st);
      if (n === 10) recorder.cut(false);
      if (n === 20) recorder.cut(true);
    }
    recorder.cut(false);
    expected = await databaseChecksums(pg.profile('src'));
    execFileSync('pg_dumpall', ['--globals-only', '-f', join(baseDir, 'globals.sql')], { env: { ...process.env, ...pg.env() } });
  });

  afterAll(async () => {
    await source?.end();
    await pg?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('restores everything, exactly once across re-runs of every step, and verifies', async () => {
    const notes = await restoreGlobals(pg.profile(), join(dirname(dumpPath), 'globals.sql'));
    expect(notes.notes).toContain(`role "${pg.user}" already exists`);

    const { db, restoreId, opts } = await restoreInto({ kind: 'latest' });
    expect(await createTargetDatabase(pg.profile(), db, { restoreId })).toEqual({ database: db, created: false });
    const again = await restoreBase({ profile: pg.profile(db), restoreId, baseLsn: formatLsn(BASE_LSN), dump: { format: 'plain', path: dumpPath } });
    expect(again.skipped).toBe(true);

    const first = await applySegments({ ...opts, batchTransactions: 4 });
    expect(first).toMatchObject({ appliedTransactions: 30, skippedTransactions: 0, reachedTarget: true, lastEndLsn: formatLsn(txnNo(30).endLsn) });
    expect(first.lastCommitTime).toBe(txnNo(30).commitTime);
    const second = await applySegments(opts);
    expect(second).toMatchObject({ appliedTransactions: 0, skippedTransactions: 30 });

    const verified = await verifyTarget(pg.profile(db), expected);
    expect(verified.mismatches).toEqual([]);
    expect(verified.ok).toBe(true);
    expect(await eventsIn(db)).toEqual({ count: 30, distinct: 30, max: 30 });
    expect(await appliedPosition(pg.profile(db), restoreId)).toBe(formatLsn(txnNo(30).endLsn));

    await fixSequences(pg.profile(db));
    expect(await finishRestore(pg.profile(db), restoreId)).toEqual({ dropped: true, lastLsn: formatLsn(txnNo(30).endLsn) });
    expect(await finishRestore(pg.profile(db), restoreId)).toEqual({ dropped: false, lastLsn: null });
    const origins = await pg.query('SELECT roname FROM pg_catalog.pg_replication_origin WHERE roname = $1', [`pgincr_restore_${restoreId}`]);
    expect(origins).toEqual([]);
  });

  it('reports a differing table when the target is not faithful', async () => {
    const { db, opts } = await restoreInto({ kind: 'latest' });
    await applySegments(opts);
    await pg.query("UPDATE public.accounts SET name = 'mallory' WHERE id = 1", [], db);
    const r = await verifyTarget(pg.profile(db), expected);
    expect(r.ok).toBe(false);
    expect(r.mismatches.map((m) => m.name)).toEqual(['"public"."accounts"']);
    await expect(verifyTarget(pg.profile(db), expected, { throwOnMismatch: true })).rejects.toMatchObject({
      name: 'VerifyFailedError',
      message: expect.stringContaining('"public"."accounts"'),
    });
  });

  describe('point in time', () => {
    const cases: Array<[string, () => StopTarget, number, boolean]> = [
      ['lsn inclusive', () => ({ kind: 'lsn', lsn: formatLsn(txnNo(12).commitLsn), inclusive: true }), 12, true],
      ['lsn exclusive', () => ({ kind: 'lsn', lsn: formatLsn(txnNo(12).commitLsn), inclusive: false }), 11, true],
      ['lsn between two commits', () => ({ kind: 'lsn', lsn: formatLsn(txnNo(12).commitLsn + 1n), inclusive: true }), 12, true],
      ['time inclusive', () => ({ kind: 'time', time: txnNo(17).commitTime, inclusive: true }), 17, true],
      ['time exclusive, other offset', () => ({ kind: 'time', time: shiftToPlusOne(txnNo(17).commitTime), inclusive: false }), 16, true],
      ['xid inclusive', () => ({ kind: 'xid', xid: txnNo(5).xid, inclusive: true }), 5, true],
      ['xid exclusive', () => ({ kind: 'xid', xid: txnNo(5).xid, inclusive: false }), 4, true],
      ['lsn past the end', () => ({ kind: 'lsn', lsn: 'FF/0', inclusive: true }), 30, false],
    ];
    it.each(cases)('%s', async (_name, target, lastTxn, reached) => {
      const { db, opts } = await restoreInto(target(), { batchTransactions: 3 });
      const r = await applySegments(opts);
      expect(r.appliedTransactions).toBe(lastTxn);
      expect(r.reachedTarget).toBe(reached);
      expect(r.lastEndLsn).toBe(formatLsn(txnNo(lastTxn).endLsn));
      expect(await eventsIn(db)).toEqual({ count: lastTxn, distinct: lastTxn, max: lastTxn });
      // A retry of the same step applies nothing more.
      expect((await applySegments(opts)).appliedTransactions).toBe(0);
    });
  });

  it('resumes exactly once after an abort between batches', async () => {
    const { db, opts } = await restoreInto({ kind: 'latest' });
    const controller = new AbortController();
    let batches = 0;
    await expect(
      applySegments({
        ...opts,
        batchTransactions: 2,
        signal: controller.signal,
        onProgress: () => {
          if (++batches === 3) controller.abort(new Error('stop here'));
        },
      }),
    ).rejects.toThrow('stop here');
    expect(await eventsIn(db)).toEqual({ count: 6, distinct: 6, max: 6 });
    const rest = await applySegments(opts);
    expect(rest).toMatchObject({ appliedTransactions: 24, skippedTransactions: 6 });
    expect(await eventsIn(db)).toEqual({ count: 30, distinct: 30, max: 30 });
    expect((await verifyTarget(pg.profile(db), expected)).mismatches).toEqual([]);
  });

  it('resumes exactly once after its connection is killed', async () => {
    const { db, restoreId, opts } = await restoreInto({ kind: 'latest' });
    const admin = await pg.connect(db);
    try {
      let batches = 0;
      await expect(
        applySegments({
          ...opts,
          batchTransactions: 1,
          onProgress: async () => {
            if (++batches !== 4) return;
            await admin.query('SELECT pg_terminate_backend(pid, 10000) FROM pg_stat_activity WHERE application_name = $1', [`pgincr restore ${restoreId}`]);
          },
        }),
      ).rejects.toMatchObject({ message: expect.stringMatching(/terminat|connection|closed/i) });
    } finally {
      await admin.end();
    }
    const partial = await eventsIn(db);
    expect(partial.count).toBe(4);
    const rest = await applySegments(opts);
    expect(rest.appliedTransactions + rest.skippedTransactions).toBe(30);
    expect(rest.skippedTransactions).toBe(4);
    expect(await eventsIn(db)).toEqual({ count: 30, distinct: 30, max: 30 });
  });

  it('refuses a corrupt segment before applying anything', async () => {
    const copies = join(dir, 'corrupt');
    mkdirSync(copies, { recursive: true });
    const paths = segments().map((p) => {
      const to = join(copies, basename(p));
      copyFileSync(p, to);
      return to;
    });
    const last = paths[2] as string;
    const bytes = readFileSync(last);
    const at = bytes.indexOf("'txn 25'");
    bytes[at + 1] = 'X'.charCodeAt(0);
    writeFileSync(last, bytes);

    const { db, restoreId, opts } = await restoreInto({ kind: 'latest' });
    await expect(applySegments({ ...opts, segments: paths })).rejects.toMatchObject({
      name: 'SegmentCorruptError',
      message: expect.stringMatching(new RegExp(`${last.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: body_sha256 mismatch.* at offset \\d+`)),
    });
    expect(await eventsIn(db)).toEqual({ count: 0, distinct: 0, max: null });
    expect(await appliedPosition(pg.profile(db), restoreId)).toBe(formatLsn(BASE_LSN));
  });

  it('commits nothing from a damaged base dump, then loads the intact one', async () => {
    const damaged = join(dir, 'damaged.sql.gz');
    const gz = readFileSync(dumpPath);
    writeFileSync(damaged, gz.subarray(0, Math.floor(gz.length * 0.7)));
    await createTargetDatabase(pg.profile(), 'base_damaged', { restoreId: 'bd' });
    const target = { profile: pg.profile('base_damaged'), restoreId: 'bd', baseLsn: formatLsn(BASE_LSN) };
    await expect(restoreBase({ ...target, dump: { format: 'plain', path: damaged } })).rejects.toThrow(/unexpected end of file|incorrect header|invalid/i);
    expect(await pg.query("SELECT relname FROM pg_class WHERE relname = 'accounts'", [], 'base_damaged')).toEqual([]);
    expect(await appliedPosition(pg.profile('base_damaged'), 'bd')).toBeNull();
    expect(await restoreBase({ ...target, dump: { format: 'plain', path: dumpPath } })).toEqual({ skipped: false, originLsn: formatLsn(BASE_LSN) });
    expect(await appliedPosition(pg.profile('base_damaged'), 'bd')).toBe(formatLsn(BASE_LSN));
  });

  it.each([1, 2])('loads a directory dump with %d job(s), once', async (jobs) => {
    const dumpDir = join(dir, `dump-${jobs}.dir`);
    execFileSync('pg_dump', ['-Fd', '-f', dumpDir, 'src'], { env: { ...process.env, ...pg.env() } });
    const db = `dir_${jobs}`;
    await createTargetDatabase(pg.profile(), db, { restoreId: `dir${jobs}` });
    const o = { profile: pg.profile(db), restoreId: `dir${jobs}`, baseLsn: formatLsn(BASE_LSN), dump: { format: 'directory' as const, path: dumpDir, jobs } };
    expect((await restoreBase(o)).skipped).toBe(false);
    expect((await restoreBase(o)).skipped).toBe(true);
    expect(await appliedPosition(pg.profile(db), `dir${jobs}`)).toBe(formatLsn(BASE_LSN));
    const got = await databaseChecksums(pg.profile(db));
    expect(got.tables).toEqual(expected.tables);
  });

  it('applies a LATIN1 segment to a LATIN1 database byte for byte', async () => {
    await createTargetDatabase(pg.profile(), 'latin', { restoreId: 'lat', encoding: 'LATIN1', lcCollate: 'C', lcCtype: 'C' });
    await pg.query('CREATE TABLE public.words (w text)', [], 'latin');
    const latinDir = join(dir, 'latin');
    const rec = new Recorder(null as never, latinDir, BASE_LSN, undefined, { encoding: 'LATIN1' });
    rec.record(["INSERT INTO public.words (w) VALUES ('caf\u00e9 \u00bd \u00ff')"]);
    rec.cut(true);
    const r = await applySegments({
      profile: pg.profile('latin'),
      restoreId: 'lat',
      segments: [rec.segments[0]!.path],
      stopAt: { kind: 'latest' },
      startLsn: formatLsn(BASE_LSN),
    });
    expect(r.appliedTransactions).toBe(1);
    const rows = await pg.query<{ w: string; hex: string }>("SELECT w, encode(convert_to(w, 'LATIN1'), 'hex') AS hex FROM public.words", [], 'latin');
    expect(rows).toEqual([{ w: 'café ½ ÿ', hex: '636166e920bd20ff' }]);
  });

  it('takes a checkpoint: checksums at a slot snapshot LSN, written to checkpoints/, slot gone', async () => {
    const cp = await takeCheckpoint(pg.profile('src'), dir);
    expect(cp.path).toBe(join(dir, 'checkpoints', `${parseLsn(cp.lsn).toString(16).toUpperCase().padStart(16, '0')}.json`));
    const file = JSON.parse(readFileSync(cp.path, 'utf8'));
    expect(file.lsn).toBe(cp.lsn);
    expect(file.tables).toEqual(expected.tables);
    // The temporary slot goes when its walsender exits, just after the connection closes.
    const checkpointSlots = () => pg.query("SELECT slot_name FROM pg_replication_slots WHERE slot_name LIKE 'pgincr_checkpoint_%'");
    await waitFor('the temporary checkpoint slot to go', async () => (await checkpointSlots()).length === 0, 10_000, 50);
    expect(await checkpointSlots()).toEqual([]);
  });

  it('refuses an existing target database, but accepts its own from an earlier attempt', async () => {
    await expect(createTargetDatabase(pg.profile(), 'src', { restoreId: 'other' })).rejects.toMatchObject({
      name: 'TargetExistsError',
      message: expect.stringContaining('database "src" already exists'),
    });
    expect(await createTargetDatabase(pg.profile(), 'mine', { restoreId: 'r1', encoding: 'UTF8' })).toEqual({ database: 'mine', created: true });
    expect(await createTargetDatabase(pg.profile(), 'mine', { restoreId: 'r1' })).toEqual({ database: 'mine', created: false });
    await expect(createTargetDatabase(pg.profile(), 'mine', { restoreId: 'r2' })).rejects.toMatchObject({ name: 'TargetExistsError' });
  });

  it('reports existing roles as notes and fails on other errors in globals', async () => {
    const ok = join(dir, 'globals-ok.sql');
    writeFileSync(ok, `CREATE ROLE "${pg.user}";\nCREATE ROLE app_reader;\nALTER ROLE app_reader WITH NOLOGIN;\n`);
    expect((await restoreGlobals(pg.profile(), ok)).notes).toEqual([`role "${pg.user}" already exists`]);
    expect((await restoreGlobals(pg.profile(), ok)).notes).toEqual([`role "${pg.user}" already exists`, 'role "app_reader" already exists']);
    const bad = join(dir, 'globals-bad.sql');
    writeFileSync(bad, "CREATE ROLE app_writer;\nCREATE TABLESPACE nowhere LOCATION '/nonexistent/pgincr';\n");
    await expect(restoreGlobals(pg.profile(), bad)).rejects.toMatchObject({
      name: 'CommandFailedError',
      message: expect.stringMatching(/globals-bad\.sql: line 2: 58P01 /),
    });
  });

  it('moves owned, shared and descending sequences past their columns, never backwards', async () => {
    await pg.createDatabase('seqs');
    await pg.query(
      `
      CREATE TABLE owned (id bigserial PRIMARY KEY);
      CREATE SEQUENCE shared;
      CREATE TABLE a (id int DEFAULT nextval('shared'));
      CREATE TABLE b (id bigint DEFAULT nextval('shared'));
      CREATE SEQUENCE down INCREMENT -1 MINVALUE -1000 MAXVALUE -1 START -1;
      CREATE TABLE d (id int DEFAULT nextval('down'));
      CREATE TABLE ahead (id serial);
      CREATE TABLE ident (id int GENERATED ALWAYS AS IDENTITY);
      INSERT INTO owned VALUES (5), (42);
      INSERT INTO a VALUES (7); INSERT INTO b VALUES (93);
      INSERT INTO d VALUES (-1), (-17);
      SELECT setval('ahead_id_seq', 500); INSERT INTO ahead VALUES (10);
      INSERT INTO ident OVERRIDING SYSTEM VALUE VALUES (64);`,
      [],
      'seqs',
    );
    const fixes = await fixSequences(pg.profile('seqs'));
    const byName = Object.fromEntries(fixes.map((f) => [f.sequence, f]));
    expect(byName['public.shared']).toMatchObject({ setTo: '93', columns: ['public.a.id', 'public.b.id'] });
    expect(byName['public.ahead_id_seq']).toMatchObject({ setTo: null });
    const next = await pg.query<Record<string, string>>(
      `SELECT nextval('owned_id_seq')::text AS owned, nextval('shared')::text AS shared, nextval('down')::text AS down,
              nextval('ahead_id_seq')::text AS ahead, nextval('ident_id_seq')::text AS ident`,
      [],
      'seqs',
    );
    expect(next[0]).toEqual({ owned: '43', shared: '94', down: '-18', ahead: '501', ident: '65' });
    const again = await fixSequences(pg.profile('seqs'));
    expect(again.every((f) => f.setTo === null)).toBe(true);
  });
});

/** The same instant written with a +01:00 offset. */
function shiftToPlusOne(canonical: string): string {
  const ms = Date.parse(`${canonical.slice(0, 19)}Z`) + 3600_000;
  return `${new Date(ms).toISOString().slice(0, 19)}.${canonical.slice(20, 26)}+01:00`;
}
