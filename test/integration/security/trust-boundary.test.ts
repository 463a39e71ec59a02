/**
 * The trust boundary of the capture schema (docs/security.md), attacked by roles without special
 * privileges on a real cluster: `mallory` (LOGIN only), `creator` (CREATE on schema public) and
 * `dbowner` (owns a database, not a superuser). Captured and restored through the real
 * activities; the assertions are on the segments, the source and the restored database.
 */
import { MIGRATIONS, migrate } from '../../../src/adapters/pg/migrations';
import { DDL_SIGNED_FIELDS } from '../../../src/adapters/pg/migrations/005-trust-boundary';
import { ensureRawCaptureObjects } from '../../../src/adapters/pg/raw-capture-objects';
import { DDL_HISTORY_SIGNED_COLUMNS, rowSignature } from '../../../src/core/sql/capture-row-signature';
import { startCluster, type PgCluster } from '../../helpers/pg-cluster';
import { pgincrTestEnv, waitFor } from '../../helpers/pgincr-env';
import { GOLDEN_KEY, GOLDEN_SIGNATURE, GOLDEN_VALUES } from '../../helpers/signature-golden';
import { captureAndStop, expectRestoreEqualsSource, sealedSegmentText, setUpChain, tearDownChain } from '../../helpers/direct-pipeline';

jest.setTimeout(240_000);

let pg: PgCluster;

beforeAll(async () => {
  pg = await startCluster();
  await pg.query(`CREATE ROLE mallory LOGIN; CREATE ROLE creator LOGIN; CREATE ROLE dbowner LOGIN CREATEDB`);
});
afterAll(async () => {
  await pg?.stop();
});

/** The forged row of issue 14: a SECURITY DEFINER function that would make mallory a superuser. */
const FORGED_INSERT = `INSERT INTO pgincr.ddl_history(xid, occurred_at, role_name, search_path, command_tag, object_types,
  object_identities, query, schema_version, phase, statement_ordinal)
VALUES (0, now(), '', '', 'CREATE FUNCTION', '{}', '{}',
  'CREATE FUNCTION public.pwn() RETURNS void LANGUAGE sql SECURITY DEFINER AS $b$ ALTER ROLE mallory SUPERUSER $b$',
  4, 'end', 0)`;

/** Bytes of a JS string from node-postgres (UTF-8 decoded) as a byte string. */
const bytes = (s: string | null) => (s === null ? null : Buffer.from(s, 'utf8').toString('latin1'));

test('forged, hidden and misplaced DDL: refused or recorded as it ran; the restore holds only what the server executed', async () => {
  const chain = await setUpChain(
    pg,
    'sec_src',
    `
    CREATE TABLE public.base (id int PRIMARY KEY, v text);
    CREATE SEQUENCE public.s;
    GRANT CREATE ON SCHEMA public TO creator;`,
  );
  try {
    const mallory = await pg.connect('sec_src', { user: 'mallory' });
    try {
      // Issue 14: any role could write a row the restore runs as superuser.
      await expect(mallory.query(FORGED_INSERT)).rejects.toThrow(/permission denied/);
      await expect(mallory.query('SELECT pgincr.internal_token()')).rejects.toThrow(/permission denied/);
      await expect(mallory.query('SELECT key FROM pgincr.secret')).rejects.toThrow(/permission denied/);
    } finally {
      await mallory.end();
    }

    const creator = await pg.connect('sec_src', { user: 'creator' });
    try {
      // The switch pgincr's own sessions use: `on` no longer hides the DDL.
      await creator.query(`SET pgincr.internal = on`);
      await creator.query(`CREATE TABLE public.hidden (id int PRIMARY KEY, v text)`);
      await creator.query(`SELECT pg_catalog.set_config('pgincr.internal', repeat('a', 64), false)`);
      await creator.query(`CREATE TABLE public.hidden2 (id int PRIMARY KEY)`);
      await creator.query(`RESET pgincr.internal`);
      await creator.query(`INSERT INTO public.hidden VALUES (1, 'seen'); INSERT INTO public.hidden2 VALUES (2)`);
      // Misplaced ordinal: reset the firing counter between two statements of one query string,
      // so that o2's row would point at o1's statement (restored twice, o2 never).
      await creator.query(`CREATE TABLE public.o1 (id int PRIMARY KEY);
        SELECT pg_catalog.set_config('pgincr.ordinal_create',
          pg_catalog.date_part('epoch', pg_catalog.statement_timestamp())::text || '/' || pg_catalog.md5(pg_catalog.current_query()) || '#0', true);
        CREATE TABLE public.o2 (id int PRIMARY KEY, note text);
        INSERT INTO public.o2 VALUES (1, 'second')`);
    } finally {
      await creator.end();
    }

    // A superuser bypassing the writer (replica mode: no BEFORE INSERT trigger): no signature.
    const su = await pg.connect('sec_src');
    try {
      await su.query('BEGIN');
      await su.query(`SET LOCAL session_replication_role = replica`);
      await su.query(FORGED_INSERT.replace('public.pwn()', 'public.pwn2()'));
      await su.query(`INSERT INTO pgincr.ddl_history(xid, occurred_at, role_name, search_path, command_tag, object_types,
          object_identities, query, schema_version, phase, statement_ordinal, sig)
        VALUES (0, now(), '', '', 'CREATE TABLE', '{}', '{}', 'CREATE TABLE public.pwn3 (a int)', 5, 'end', 0, repeat('0', 64))`);
      await su.query(`INSERT INTO pgincr.sequence_positions (recorded_at, positions)
        VALUES (now(), '[{"schema":"public","name":"s","last_value":"999","is_called":true}]')`);
      await su.query('COMMIT');
      await su.query(`SELECT nextval('public.s')`);
      // The role in effect is recorded, not pgincr's owner (the trigger functions run as it).
      await su.query(`SET ROLE creator; CREATE TABLE public.as_creator (id int PRIMARY KEY); RESET ROLE`);
    } finally {
      await su.end();
    }

    // The signature the trigger wrote is the one the capture computes (golden: SQL vs node:crypto).
    const [{ key }] = (await pg.query<{ key: Buffer }>('SELECT key FROM pgincr.secret', [], 'sec_src')) as [{ key: Buffer }];
    expect(DDL_HISTORY_SIGNED_COLUMNS).toEqual(DDL_SIGNED_FIELDS);
    const rows = await pg.query<Record<string, string | null>>(
      `SELECT ${DDL_SIGNED_FIELDS.map((f) => `${f}::text`).join(', ')}, sig FROM pgincr.ddl_history WHERE xid <> 0 ORDER BY id`,
      [],
      'sec_src',
    );
    expect(rows.length).toBeGreaterThanOrEqual(4);
    for (const r of rows)
      expect(
        rowSignature(
          key,
          DDL_SIGNED_FIELDS.map((f) => bytes(r[f] ?? null)),
        ),
      ).toBe(r.sig);
    const recorded = await pg.query<{ role_name: string; session_user_name: string; query: string }>(
      `SELECT role_name, session_user_name, query FROM pgincr.ddl_history WHERE query LIKE '%hidden%' ORDER BY id`,
      [],
      'sec_src',
    );
    expect(recorded.map((r) => [r.role_name, r.session_user_name])).toEqual([
      ['creator', 'creator'],
      ['creator', 'creator'],
    ]);
    expect(await pg.query(`SELECT role_name, session_user_name FROM pgincr.ddl_history WHERE query LIKE '%as_creator%'`, [], 'sec_src')).toEqual([
      { role_name: 'creator', session_user_name: pg.user },
    ]);
    // The golden vector of the unit test, computed by the SQL side.
    const fields = GOLDEN_VALUES.map((_, i) => `pgincr.canonical_field($${i + 2})`).join(' || ');
    const golden = await pg.query<{ sig: string }>(
      `SELECT encode(sha256($1::bytea || sha256($1::bytea || ${fields})), 'hex') AS sig`,
      [GOLDEN_KEY, ...GOLDEN_VALUES.map((v) => (v === null ? null : Buffer.from(v, 'latin1').toString('utf8')))],
      'sec_src',
    );
    expect(golden).toEqual([{ sig: GOLDEN_SIGNATURE }]);

    // The capture runs count what they refused (the capture workflow's status adds them up).
    const [{ lsn }] = (await pg.query<{ lsn: string }>('SELECT pg_current_wal_insert_lsn()::text AS lsn', [], 'sec_src')) as [{ lsn: string }];
    let refusedRows = 0;
    await waitFor(
      `slot ${chain.slot} to confirm ${lsn}`,
      async () => {
        const r = await chain.env.activities.captureChanges({
          profile: 'default',
          runForMs: 700,
          ...(chain.lastDurableLsn ? { lastDurableLsn: chain.lastDurableLsn } : {}),
        });
        chain.lastDurableLsn = r.lastDurableLsn;
        refusedRows += r.refusedRows ?? 0;
        const [c] = await pg.query<{ ok: boolean }>(
          'SELECT confirmed_flush_lsn >= $1::pg_lsn AS ok FROM pg_replication_slots WHERE slot_name = $2',
          [lsn, chain.slot],
          'sec_src',
        );
        return c?.ok === true;
      },
      60_000,
      0,
    );
    expect(refusedRows).toBe(3);
    await captureAndStop(pg, chain);
    const text = sealedSegmentText(chain);
    expect(text).not.toMatch(/pwn/);
    expect(text).not.toMatch(/setval\([^)]*999/);
    const refused = text.split('\n').filter((l) => l.startsWith('-- pgincr: REFUSED'));
    expect(refused).toHaveLength(3);
    expect(refused.filter((l) => l.includes('pgincr.ddl_history'))).toHaveLength(2);
    expect(refused.filter((l) => l.includes('pgincr.sequence_positions'))).toHaveLength(1);
    expect(text).toContain('CREATE TABLE public.hidden (id int PRIMARY KEY, v text);');
    expect(text).toContain('CREATE TABLE public.o2 (id int PRIMARY KEY, note text);');

    // Schema, data and sequences equal the source's: no pwn*, hidden and o2 as created.
    await expectRestoreEqualsSource(pg, chain, 'sec_dst');
    const restored = await pg.query<{ proname: string }>(`SELECT proname FROM pg_proc WHERE proname LIKE 'pwn%'`, [], 'sec_dst');
    expect(restored).toEqual([]);
    expect(await pg.query(`SELECT id, note FROM public.o2`, [], 'sec_dst')).toEqual([{ id: 1, note: 'second' }]);
  } finally {
    await tearDownChain(pg, chain, 'sec_dst');
  }
});

test("a role with CREATE on public cannot get its operator run by another role's DDL through pgincr's triggers", async () => {
  await pg.createDatabase('sec_op');
  await pg.query(`GRANT CREATE ON SCHEMA public TO creator`, [], 'sec_op');
  const c = await pg.connect('sec_op');
  try {
    await migrate(c);
  } finally {
    await c.end();
  }
  const creator = await pg.connect('sec_op', { user: 'creator' });
  try {
    // An exact-match operator for `oid = regclass` (pg_catalog has only oid = oid): found first
    // by a function that runs with the caller's search_path, with the caller's rights.
    await creator.query(`CREATE TABLE public.leaks (who text);
      GRANT INSERT ON public.leaks TO PUBLIC;
      CREATE FUNCTION public.leak(oid, regclass) RETURNS boolean LANGUAGE sql
        AS $f$ INSERT INTO public.leaks SELECT current_user; SELECT $1 OPERATOR(pg_catalog.=) $2::oid $f$;
      CREATE OPERATOR public.= (LEFTARG = oid, RIGHTARG = regclass, FUNCTION = public.leak)`);
  } finally {
    await creator.end();
  }
  // The victim: the superuser creating a table without a primary key (the replica-identity guard runs).
  await pg.query(`CREATE TABLE public.nopk (a int)`, [], 'sec_op');
  expect(await pg.query(`SELECT who FROM public.leaks`, [], 'sec_op')).toEqual([]);
  expect(await pg.query(`SELECT relreplident FROM pg_class WHERE oid = 'public.nopk'::regclass`, [], 'sec_op')).toEqual([{ relreplident: 'f' }]);
});

test('every function of the capture schema has a fixed search_path and nothing is granted to PUBLIC; decoder_raw triggers work for an ordinary role', async () => {
  await pg.createDatabase('sec_fn');
  const c = await pg.connect('sec_fn');
  try {
    await migrate(c);
    await c.query(`CREATE TABLE public.t (id int PRIMARY KEY, v text); GRANT ALL ON public.t TO mallory; GRANT CREATE ON SCHEMA public TO mallory`);
    await ensureRawCaptureObjects(c);
  } finally {
    await c.end();
  }
  const unfixed = await pg.query<{ proname: string; prosecdef: boolean; prosrc: string }>(
    `
    SELECT p.proname, p.prosecdef, p.prosrc FROM pg_proc p
     WHERE p.pronamespace = 'pgincr'::regnamespace
       AND NOT EXISTS (SELECT 1 FROM unnest(p.proconfig) s WHERE s = 'search_path=pg_catalog, pg_temp')
     ORDER BY 1`,
    [],
    'sec_fn',
  );
  // The two event-trigger entry points read the DDL session's search_path (docs/security.md):
  // their body is one schema-qualified call.
  expect(unfixed.map((r) => r.proname)).toEqual(['on_ddl_command_end', 'on_ddl_command_start']);
  for (const r of unfixed) {
    expect(r.prosrc.trim()).toMatch(/^BEGIN\s+PERFORM pgincr\.ddl_command_(start|end)_impl\(TG_TAG, pg_catalog\.current_setting\('search_path'\)\);\s+END$/);
  }
  const grants = await pg.query<{ what: string }>(
    `
    SELECT 'schema' AS what WHERE has_schema_privilege('mallory', 'pgincr', 'USAGE')
    UNION ALL SELECT 'function ' || p.oid::regprocedure::text FROM pg_proc p
     WHERE p.pronamespace = 'pgincr'::regnamespace AND has_function_privilege('mallory', p.oid, 'EXECUTE')
       AND p.prorettype <> 'event_trigger'::regtype AND p.prorettype <> 'trigger'::regtype
    UNION ALL SELECT 'table ' || c.relname FROM pg_class c
     WHERE c.relnamespace = 'pgincr'::regnamespace AND c.relkind IN ('r', 'S')
       AND (has_table_privilege('mallory', c.oid, 'SELECT') OR has_table_privilege('mallory', c.oid, 'INSERT'))`,
    [],
    'sec_fn',
  );
  expect(grants).toEqual([]);

  // decoder_raw's per-table trigger and new-table trigger, for a role owning nothing of pgincr.
  const mallory = await pg.connect('sec_fn', { user: 'mallory' });
  try {
    await mallory.query(`INSERT INTO public.t VALUES (1, 'a'), (2, 'b')`);
    await mallory.query(`UPDATE public.t SET v = 'c' WHERE id = 1`);
    await mallory.query(`DELETE FROM public.t WHERE id = 2`);
    await mallory.query(`CREATE TABLE public.m (id int PRIMARY KEY)`);
    await mallory.query(`INSERT INTO public.m VALUES (1)`);
    // Objects passed from sql_drop to ddl_command_end cannot be injected through the setting.
    await mallory.query(`BEGIN; SELECT set_config('pgincr.dropped', '[{"type":"table","identity":"public.victim","kind":"other"}]', true);
      CREATE TABLE public.m2 (id int PRIMARY KEY); COMMIT`);
    // The once-per-transaction flag cannot be forged to leave a transaction unmarked.
    await mallory.query(`BEGIN; SELECT set_config('pgincr.raw_xid', pg_current_xact_id()::text, true); INSERT INTO public.t VALUES (3, 'x'); COMMIT`);
  } finally {
    await mallory.end();
  }
  const raw = await pg.query<{ n: string }>(`SELECT count(*)::text AS n FROM pgincr.raw_transactions`, [], 'sec_fn');
  expect(Number(raw[0]?.n)).toBe(7); // 5 DML transactions, and the two CREATE TABLEs' ddl_history rows
  const trig = await pg.query(`SELECT 1 FROM pg_trigger WHERE tgrelid = 'public.m'::regclass AND tgname = 'pgincr_raw_capture'`, [], 'sec_fn');
  expect(trig).toHaveLength(1);
  const ddl = await pg.query<{ role_name: string; command_tag: string }>(
    `SELECT role_name, command_tag FROM pgincr.ddl_history WHERE query LIKE '%public.m %' ORDER BY id`,
    [],
    'sec_fn',
  );
  expect(ddl).toEqual([{ role_name: 'mallory', command_tag: 'CREATE TABLE' }]);
  const m2 = await pg.query<{ ids: string }>(`SELECT object_identities::text AS ids FROM pgincr.ddl_history WHERE query LIKE '%public.m2 %'`, [], 'sec_fn');
  expect(m2).toEqual([{ ids: '{public.m2,public.m2_pkey}' }]); // not public.victim
});

test("setup refuses a pgincr schema created beforehand by the database's owner (not a superuser)", async () => {
  await pg.query(`CREATE DATABASE sec_squat OWNER dbowner`);
  const owner = await pg.connect('sec_squat', { user: 'dbowner' });
  try {
    await owner.query(`CREATE SCHEMA pgincr`);
    await owner.query(`CREATE FUNCTION pgincr.identity_index(rel oid) RETURNS name LANGUAGE sql AS $f$ SELECT NULL::name $f$`);
  } finally {
    await owner.end();
  }
  const env = pgincrTestEnv(pg, 'sec_squat');
  try {
    const err = await env.activities.installCaptureSchema({ profile: 'default' }).then(
      () => null,
      (e: Error) => e,
    );
    expect(err?.name).toBe('NotReadyError');
    expect(err?.message).toMatch(/schema pgincr belongs to role dbowner/);
    expect(err?.message).toMatch(/hint: .*DROP SCHEMA pgincr CASCADE/);
    // Nothing installed: no event trigger, no table of pgincr's.
    expect(await pg.query(`SELECT evtname FROM pg_event_trigger`, [], 'sec_squat')).toEqual([]);
    expect(await pg.query(`SELECT relname FROM pg_class WHERE relnamespace = 'pgincr'::regnamespace`, [], 'sec_squat')).toEqual([]);
  } finally {
    env.cleanup();
  }
  // Same when only an object in a superuser's schema is someone else's.
  const c = await pg.connect('sec_squat');
  try {
    await c.query(`ALTER SCHEMA pgincr OWNER TO ${pg.user}`);
    const err = await migrate(c, MIGRATIONS).then(
      () => null,
      (e: Error) => e,
    );
    expect(err?.message).toMatch(/function pgincr\.identity_index\(oid\) belongs to role dbowner/);
  } finally {
    await c.end();
  }
});

test('an upgrade from schema version 4 locks down an existing install and its decoder_raw objects', async () => {
  await pg.createDatabase('sec_upgrade');
  const c = await pg.connect('sec_upgrade');
  try {
    expect((await migrate(c, MIGRATIONS.slice(0, 4))).applied).toEqual([1, 2, 3, 4]);
    // The version-4 form of decoder_raw's per-table trigger function: the invoker's rights.
    await c.query(`SELECT set_config('pgincr.internal', 'on', false)`);
    await c.query(`CREATE FUNCTION pgincr.raw_capture_trigger() RETURNS trigger LANGUAGE plpgsql AS $f$ BEGIN RETURN NULL; END $f$`);
    await c.query(`RESET pgincr.internal`);
    expect(await pg.query(`SELECT has_table_privilege('mallory', 'pgincr.ddl_history', 'INSERT') AS p`, [], 'sec_upgrade')).toEqual([{ p: true }]);
    expect((await migrate(c)).applied).toEqual(MIGRATIONS.slice(4).map((m) => m.version));
  } finally {
    await c.end();
  }
  expect(await pg.query(`SELECT has_table_privilege('mallory', 'pgincr.ddl_history', 'INSERT') AS p`, [], 'sec_upgrade')).toEqual([{ p: false }]);
  const fn = await pg.query<{ prosecdef: boolean; proconfig: string[] }>(
    `SELECT prosecdef, proconfig FROM pg_proc WHERE oid = 'pgincr.raw_capture_trigger()'::regprocedure`,
    [],
    'sec_upgrade',
  );
  expect(fn).toEqual([{ prosecdef: true, proconfig: ['search_path=pg_catalog, pg_temp'] }]);
  // Nothing of the upgrade itself was recorded as DDL.
  expect(await pg.query(`SELECT command_tag FROM pgincr.ddl_history`, [], 'sec_upgrade')).toEqual([]);
});
