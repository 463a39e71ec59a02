import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { parseConfig, type Config } from '../../src/config';
import { databaseChecksums } from '../../src/adapters/pg/checksums';
import { runPsqlScript } from '../../src/adapters/exec/pg-tools';
import { loadCatalog } from '../../src/adapters/fs/catalog-store';
import { compareChecksums, type ChecksumFile } from '../../src/core/verify/compare';
import { MIGRATIONS, SCHEMA_VERSION } from '../../src/adapters/pg/migrations';
import {
  chainInfo,
  dumpGlobals,
  ensurePublication,
  fixReplicaIdentity,
  inspectSetup,
  installCaptureSchema,
  takeBase,
  uninstall,
  writeMetadata,
  type SetupDeps,
} from '../../src/setup/setup';
import { startCluster, type PgCluster } from '../helpers/pg-cluster';

const SCHEMA = `
CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
CREATE TABLE public.with_pk (id int PRIMARY KEY, v text, m mood);
CREATE TABLE public.uniq (a int NOT NULL, b text, c int UNIQUE, UNIQUE (a));
CREATE TABLE public.nokey (a int, b text);
CREATE TABLE public.parted (id int, region text) PARTITION BY LIST (region);
CREATE TABLE public.parted_eu PARTITION OF public.parted FOR VALUES IN ('eu');
CREATE TABLE public.parted_us PARTITION OF public.parted FOR VALUES IN ('us');
CREATE TABLE public.gen (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, a int, doubled int GENERATED ALWAYS AS (a * 2) STORED);
CREATE UNLOGGED TABLE public.scratch (id int PRIMARY KEY);
CREATE SCHEMA "Odd Schema";
CREATE TABLE "Odd Schema"."Mixed Case" ("Id" serial PRIMARY KEY, "Value" text, "Data" bytea, n numeric, t timestamptz);
INSERT INTO public.with_pk SELECT g, 'row ' || g || E' it''s \\ "q"\nline', 'happy' FROM generate_series(1, 50) g;
INSERT INTO public.uniq SELECT g, NULL, g FROM generate_series(1, 20) g;
INSERT INTO public.nokey VALUES (1, 'x'), (1, 'x'), (NULL, NULL), (2, '');
INSERT INTO public.parted VALUES (1, 'eu'), (2, 'us'), (3, 'eu');
INSERT INTO public.gen (a) SELECT g FROM generate_series(1, 10) g;
INSERT INTO public.scratch VALUES (1);
INSERT INTO "Odd Schema"."Mixed Case" ("Value", "Data", n, t) VALUES
  ('héllo ✓', '\\x00ff', 'NaN', '2024-02-29 12:34:56.789+05'), (NULL, NULL, 1.50, 'infinity');
SELECT lo_from_bytea(0, 'large object bytes');
CREATE ROLE app_user LOGIN;
GRANT CREATE, USAGE ON SCHEMA public TO app_user;
`;

describe('setup steps', () => {
  let pg: PgCluster;
  let repo: string;
  let config: Config;
  let deps: SetupDeps;
  const logger = pino({ level: 'silent' });
  const q = <T extends Record<string, unknown>>(sql: string, db = 'app') => pg.query<T>(sql, [], db);

  beforeAll(async () => {
    pg = await startCluster();
    await pg.createDatabase('app');
    pg.psql(['-c', SCHEMA], 'app');
    repo = mkdtempSync(join(tmpdir(), 'pgincr-repo-'));
    config = parseConfig({ repository: repo, profiles: { src: pg.profile('app'), restored: pg.profile('restored') } }, {});
    deps = { config, logger };
  });
  afterAll(async () => {
    await pg?.stop();
    if (repo) rmSync(repo, { recursive: true, force: true });
  });

  it('installs the capture schema idempotently', async () => {
    expect(await installCaptureSchema(deps, { profile: 'src' })).toEqual({ version: SCHEMA_VERSION, applied: MIGRATIONS.map((m) => m.version) });
    expect(await installCaptureSchema(deps, { profile: 'src' })).toEqual({ version: SCHEMA_VERSION, applied: [] });
    const triggers = await q<{ evtname: string }>('SELECT evtname FROM pg_event_trigger ORDER BY 1');
    expect(triggers.map((t) => t.evtname)).toEqual(['pgincr_ddl_command_end', 'pgincr_ddl_command_start', 'pgincr_sql_drop', 'pgincr_table_rewrite']);
    // pgincr's own DDL is never recorded.
    expect(await q('SELECT * FROM pgincr.ddl_history')).toEqual([]);
  });

  it('reports and sets replica identities', async () => {
    const dry = await fixReplicaIdentity(deps, { profile: 'src', apply: false });
    const actions = Object.fromEntries(dry.map((r) => [r.table, `${r.action}${r.changed ? ' *' : ''}`]));
    expect(actions).toEqual({
      '"Odd Schema"."Mixed Case"': 'primary key',
      '"public"."gen"': 'primary key',
      '"public"."nokey"': 'full *',
      '"public"."parted_eu"': 'full *',
      '"public"."parted_us"': 'full *',
      '"public"."uniq"': 'using index uniq_a_key *',
      '"public"."with_pk"': 'primary key',
    });
    expect(await q("SELECT relname FROM pg_class WHERE relkind = 'r' AND relreplident <> 'd' AND relnamespace = 'public'::regnamespace")).toEqual([]);

    await fixReplicaIdentity(deps, { profile: 'src', apply: true });
    const idents = await q<{ relname: string; relreplident: string }>(
      "SELECT relname, relreplident FROM pg_class WHERE relname IN ('nokey', 'uniq', 'parted_eu', 'with_pk') ORDER BY 1",
    );
    expect(idents).toEqual([
      { relname: 'nokey', relreplident: 'f' },
      { relname: 'parted_eu', relreplident: 'f' },
      { relname: 'uniq', relreplident: 'i' },
      { relname: 'with_pk', relreplident: 'd' },
    ]);
    expect((await fixReplicaIdentity(deps, { profile: 'src', apply: true })).filter((r) => r.changed)).toEqual([]);
  });

  it('creates the publication FOR ALL TABLES once, and refuses a different one of the same name', async () => {
    expect(await ensurePublication(deps, { profile: 'src' })).toEqual({ publication: 'pgincr_pub', created: true, skipped: false });
    expect(await ensurePublication(deps, { profile: 'src' })).toMatchObject({ created: false });
    await q('CREATE PUBLICATION narrow FOR TABLE public.with_pk');
    const narrow = { ...deps, config: { ...config, capture: { ...config.capture, publication: 'narrow' } } };
    await expect(ensurePublication(narrow, { profile: 'src' })).rejects.toThrow('publication narrow exists but is not FOR ALL TABLES');
    await q('DROP PUBLICATION narrow');
  });

  it('records DDL and gives a new keyless table a replica identity, for any role', async () => {
    const [{ last }] = (await q<{ last: string }>('SELECT coalesce(max(id), 0)::text AS last FROM pgincr.ddl_history')) as [{ last: string }];
    const client = await pg.connect('app', { user: 'app_user' });
    try {
      await client.query('CREATE TABLE public.later (a int, b text)');
      await client.query('CREATE TABLE public.later_uniq (k int NOT NULL UNIQUE, v text)');
      await client.query('CREATE TABLE public.later_pk (k int PRIMARY KEY)');
      await client.query('ALTER TABLE public.later ADD COLUMN c int');
    } finally {
      await client.end();
    }
    const history = await q<{ command_tag: string; role_name: string; query: string; object_identities: string[] }>(
      `SELECT command_tag, role_name, query, object_identities FROM pgincr.ddl_history WHERE id > ${last} ORDER BY id`,
    );
    expect(history.map((h) => [h.command_tag, h.query])).toEqual([
      ['CREATE TABLE', 'CREATE TABLE public.later (a int, b text)'],
      ['ALTER TABLE', 'ALTER TABLE public.later REPLICA IDENTITY FULL;'],
      ['CREATE TABLE', 'CREATE TABLE public.later_uniq (k int NOT NULL UNIQUE, v text)'],
      ['ALTER TABLE', 'ALTER TABLE public.later_uniq REPLICA IDENTITY USING INDEX later_uniq_k_key;'],
      ['CREATE TABLE', 'CREATE TABLE public.later_pk (k int PRIMARY KEY)'],
      ['ALTER TABLE', 'ALTER TABLE public.later ADD COLUMN c int'],
    ]);
    expect(new Set(history.map((h) => h.role_name))).toEqual(new Set(['app_user']));
    expect(history[0]?.object_identities).toEqual(['public.later']);
    const idents = await q("SELECT relname, relreplident FROM pg_class WHERE relname LIKE 'later%' AND relkind = 'r' ORDER BY 1");
    expect(idents).toEqual([
      { relname: 'later', relreplident: 'f' },
      { relname: 'later_pk', relreplident: 'd' },
      { relname: 'later_uniq', relreplident: 'i' },
    ]);
    // Rows cannot be written by anyone but pgincr's triggers (test/integration/security/).
    const forger = await pg.connect('app', { user: 'app_user' });
    try {
      await expect(
        forger.query(`INSERT INTO pgincr.ddl_history (xid, occurred_at, role_name, search_path, command_tag, object_types, object_identities, query, schema_version)
        VALUES (1, now(), 'postgres', '', 'DROP TABLE', '{}', '{}', 'DROP TABLE x', 1)`),
      ).rejects.toThrow(/permission denied/);
      await expect(forger.query('SELECT * FROM pgincr.ddl_history')).rejects.toThrow(/permission denied/);
    } finally {
      await forger.end();
    }
  });

  let first: Awaited<ReturnType<typeof takeBase>>;

  it('takes a base in the slot snapshot: rows written after the slot are not in it, and it restores exactly', async () => {
    const hookDeps: SetupDeps = {
      ...deps,
      hooks: {
        afterSlotCreated: async () => {
          await q('INSERT INTO public.with_pk VALUES (1000, \'after the slot\', \'sad\'); INSERT INTO "Odd Schema"."Mixed Case" ("Value") VALUES (\'after\')');
        },
      },
    };
    first = await takeBase(hookDeps, { profile: 'src', temporary: false });
    expect(first.reused).toBe(false);
    const slot = await q<{ confirmed_flush_lsn: string; plugin: string; temporary: boolean }>(
      "SELECT confirmed_flush_lsn::text, plugin, temporary FROM pg_replication_slots WHERE slot_name = 'pgincr'",
    );
    expect(slot).toEqual([{ confirmed_flush_lsn: first.lsn, plugin: 'pgoutput', temporary: false }]);

    const files = readdirSync(first.dir).sort();
    expect(files).toEqual(['checksums.json', 'dump.sql.gz', 'metadata.json']);
    const script = execFileSync('gunzip', ['-c', join(first.dir, 'dump.sql.gz')], { encoding: 'utf8' });
    expect(script).not.toMatch(/pgincr_ddl_command_end|pgincr_ddl_command_start|pgincr_sql_drop|pgincr_table_rewrite|CREATE SCHEMA pgincr|pgincr\./);
    expect(script).toContain('CREATE PUBLICATION pgincr_pub FOR ALL TABLES');

    const checksums = JSON.parse(readFileSync(join(first.dir, 'checksums.json'), 'utf8')) as ChecksumFile;
    expect(checksums.lsn).toBe(first.lsn);
    expect(checksums.tables['"public"."with_pk"']).toEqual({ rows: '50', sum: expect.any(String) });
    expect(checksums.tables['"public"."scratch"']).toBeUndefined();
    expect(Object.keys(checksums.tables).some((t) => t.startsWith('"pgincr"'))).toBe(false);

    await pg.createDatabase('restored');
    await runPsqlScript({ profile: config.profiles.restored!, file: join(first.dir, 'dump.sql.gz') });
    const restored = await databaseChecksums(config.profiles.restored!);
    expect(compareChecksums(checksums, restored)).toEqual([]);
    expect(await q('SELECT id FROM public.with_pk WHERE id = 1000', 'restored')).toEqual([]);
    expect(await q('SELECT id FROM public.with_pk WHERE id = 1000')).toEqual([{ id: 1000 }]);
    const live = await databaseChecksums(config.profiles.src!);
    // The live database has the rows written after the slot: exactly those tables differ.
    expect(compareChecksums(checksums, live).map((m) => m.name)).toEqual(['"Odd Schema"."Mixed Case"', '"public"."with_pk"']);
    expect(await q("SELECT convert_from(lo_get(oid), 'UTF8') AS v FROM pg_largeobject_metadata", 'restored')).toEqual([{ v: 'large object bytes' }]);
    expect(await q("SELECT count(*)::int AS n FROM pg_namespace WHERE nspname = 'pgincr'", 'restored')).toEqual([{ n: 0 }]);

    const catalog = await loadCatalog(first.chainDir);
    expect(catalog?.bases.map((b) => [b.id, b.lsn])).toEqual([[first.baseId, first.lsn]]);
  });

  it('dumps globals and writes metadata', async () => {
    const { file } = await dumpGlobals(deps, { profile: 'src', baseDir: first.dir });
    expect(readFileSync(file, 'utf8')).toContain('CREATE ROLE app_user');
    await writeMetadata(deps, { profile: 'src', baseDir: first.dir });
    const meta = JSON.parse(readFileSync(join(first.dir, 'metadata.json'), 'utf8'));
    const chain = await chainInfo(deps, { profile: 'src' });
    expect(meta).toMatchObject({
      lsn: first.lsn,
      slot: 'pgincr',
      plugin: 'pgoutput',
      publication: 'pgincr_pub',
      pgincrVersion: '0.1.0',
      dumpFormat: 'plain',
      server: {
        systemIdentifier: chain.systemIdentifier,
        database: 'app',
        encoding: 'UTF8',
        collate: 'C',
        localeProvider: 'libc',
        versionString: expect.stringMatching(/^PostgreSQL 15\./),
        extensions: [{ name: 'plpgsql', version: expect.any(String), schema: 'pg_catalog' }],
        types: [{ schema: 'public', name: 'mood', kind: 'enum', labels: ['sad', 'ok', 'happy'] }],
        settings: expect.objectContaining({ DateStyle: expect.any(String), standard_conforming_strings: 'on' }),
      },
    });
    expect(JSON.stringify(meta)).not.toMatch(/password/i);
    expect(readFileSync(join(first.dir, 'README.txt'), 'utf8')).toContain(`consistent LSN ${first.lsn}`);
  });

  it('is re-run safe: a slot with its base is reused; a slot without one is recreated', async () => {
    const again = await takeBase(deps, { profile: 'src', temporary: false });
    expect(again).toMatchObject({ reused: true, baseId: first.baseId, lsn: first.lsn });
    expect((await inspectSetup(deps, { profile: 'src' })).alreadySetUp).toBe(true);

    // An error between slot creation and the end of the dump drops the slot it created...
    const other = { ...deps, config: { ...config, capture: { ...config.capture, slot: 'pgincr_b' } } };
    const failing: SetupDeps = {
      ...other,
      hooks: {
        afterSlotCreated: async () => {
          throw new Error('simulated failure');
        },
      },
    };
    await expect(takeBase(failing, { profile: 'src', temporary: false })).rejects.toThrow('simulated failure');
    expect(await q("SELECT slot_name FROM pg_replication_slots WHERE slot_name = 'pgincr_b'")).toEqual([]);
    // ...but a crash of the process there leaves a slot without a base.
    await q("SELECT pg_create_logical_replication_slot('pgincr_b', 'pgoutput')");
    const orphan = await q<{ lsn: string }>("SELECT confirmed_flush_lsn::text AS lsn FROM pg_replication_slots WHERE slot_name = 'pgincr_b'");
    expect(orphan).toHaveLength(1);
    expect((await inspectSetup(other, { profile: 'src' })).alreadySetUp).toBe(false);
    const retried = await takeBase(other, { profile: 'src', temporary: false });
    expect(retried.reused).toBe(false);
    const recreated = await q<{ lsn: string }>("SELECT confirmed_flush_lsn::text AS lsn FROM pg_replication_slots WHERE slot_name = 'pgincr_b'");
    expect(recreated).toEqual([{ lsn: retried.lsn }]);
    expect(retried.lsn).not.toBe(orphan[0]?.lsn);
    const names = readdirSync(join(first.chainDir, 'base'));
    expect(names.sort()).toEqual([first.baseId, retried.baseId].sort());
    await q("SELECT pg_drop_replication_slot('pgincr_b')");
  });

  it('takes a base from a temporary slot that vanishes afterwards', async () => {
    const base = await takeBase(deps, { profile: 'src', temporary: true, slot: 'pgincr_full_1' });
    expect(base.reused).toBe(false);
    expect(existsSync(join(base.dir, 'dump.sql.gz'))).toBe(true);
    expect(await q("SELECT slot_name FROM pg_replication_slots WHERE slot_name = 'pgincr_full_1'")).toEqual([]);
  });

  it('uninstalls everything it created in the database', async () => {
    expect(await uninstall(deps, { profile: 'src' })).toEqual({ slot: true, publication: true });
    expect(await q('SELECT slot_name FROM pg_replication_slots')).toEqual([]);
    expect(await q('SELECT evtname FROM pg_event_trigger')).toEqual([]);
    expect(await q("SELECT nspname FROM pg_namespace WHERE nspname = 'pgincr'")).toEqual([]);
    expect(await uninstall(deps, { profile: 'src' })).toEqual({ slot: false, publication: false });
  });
});
