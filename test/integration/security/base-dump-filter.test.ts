/**
 * The base dump leaves out pgincr's own objects by catalog identity, on the archive's table of
 * contents: a user's objects named like pgincr's (a function and a table named
 * `pgincr_x; Type: COMMENT;`, a schema `pgincr_data`, an event trigger `pgincr_user`, a table
 * trigger `pgincr_audit`) and a function whose body holds text shaped like pg_dump's section
 * headers are all kept, and the base restores (plain and directory formats).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { startCluster, type PgCluster } from '../../helpers/pg-cluster';
import { pgincrTestEnv, type PgincrTestEnv } from '../../helpers/pgincr-env';
import { createTargetDatabase } from '../../../src/restore/create-target';
import { restoreBase, type BaseDump } from '../../../src/restore/restore-base';

jest.setTimeout(300_000);

/** Text shaped like pg_dump's section headers, inside a function body. */
const FAKE_HEADERS = [
  '',
  '--',
  '-- Name: pgincr_a; Type: COMMENT; Schema: -; Owner: x',
  '--',
  'kept line 1',
  '--',
  '-- Name: t; Type: TABLE; Schema: public; Owner: x',
  '--',
  'kept line 2',
  '',
].join('\n');

const USER_OBJECTS = `
  CREATE FUNCTION public."pgincr_x; Type: COMMENT;"() RETURNS int LANGUAGE sql AS 'SELECT 42';
  COMMENT ON FUNCTION public."pgincr_x; Type: COMMENT;"() IS 'user function';
  CREATE TABLE public."pgincr_x; Type: COMMENT;" (id int PRIMARY KEY);
  INSERT INTO public."pgincr_x; Type: COMMENT;" VALUES (1), (2);
  CREATE SCHEMA pgincr_data;
  CREATE TABLE pgincr_data.items (id int PRIMARY KEY, v text);
  INSERT INTO pgincr_data.items VALUES (1, 'one');
  CREATE FUNCTION public.note_ddl() RETURNS event_trigger LANGUAGE plpgsql AS $$BEGIN END$$;
  CREATE EVENT TRIGGER pgincr_user ON ddl_command_end EXECUTE FUNCTION public.note_ddl();
  COMMENT ON EVENT TRIGGER pgincr_user IS 'the user''s own';
  CREATE FUNCTION public.audit() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN RETURN NEW; END$$;
  CREATE TRIGGER pgincr_audit BEFORE INSERT ON pgincr_data.items FOR EACH ROW EXECUTE FUNCTION public.audit();
  CREATE FUNCTION public.tricky() RETURNS text LANGUAGE sql AS $body$SELECT $q$${FAKE_HEADERS}$q$::text$body$;`;

describe('base dump: pgincr objects left out by catalog identity, user objects kept', () => {
  let pg: PgCluster;
  const envs: PgincrTestEnv[] = [];

  beforeAll(async () => {
    pg = await startCluster();
  });

  afterAll(async () => {
    for (const env of envs) env.cleanup();
    await pg?.stop();
  });

  /** Installs pgincr on a fresh `db` with the user's objects and takes a base; returns its dump. */
  async function base(db: string, setup: Record<string, unknown>): Promise<{ dump: BaseDump; lsn: string; dir: string }> {
    await pg.createDatabase(db);
    await pg.query(USER_OBJECTS, [], db);
    const env = pgincrTestEnv(pg, db, { setup, capture: { slot: `pgincr_${db}`, publication: 'pgincr_pub' } });
    envs.push(env);
    const a = env.activities;
    await a.installCaptureSchema({ profile: 'default' });
    const [{ n }] = (await pg.query<{ n: string }>(
      "SELECT count(*) AS n FROM pg_event_trigger e JOIN pg_proc p ON p.oid = e.evtfoid WHERE p.pronamespace = 'pgincr'::regnamespace",
      [],
      db,
    )) as [{ n: string }];
    expect(Number(n)).toBeGreaterThan(0);
    const b = await a.takeBase({ profile: 'default', temporarySlot: true });
    await a.writeMetadata({ profile: 'default', baseId: b.baseId });
    const metadata = JSON.parse(readFileSync(join(b.dir, 'metadata.json'), 'utf8')) as { dumpFormat: string; dumpFile: string };
    const path = join(b.dir, metadata.dumpFile);
    const dump: BaseDump =
      metadata.dumpFormat === 'directory' ? { format: 'directory', path, jobs: 2, listPath: join(b.dir, 'dump.list') } : { format: 'plain', path };
    return { dump, lsn: b.lsn, dir: b.dir };
  }

  async function expectUserObjectsOnly(db: string): Promise<void> {
    const q = async (sql: string) => pg.query(sql, [], db);
    expect(await q('SELECT public."pgincr_x; Type: COMMENT;"() AS v')).toEqual([{ v: 42 }]);
    expect(await q(`SELECT obj_description('public."pgincr_x; Type: COMMENT;"()'::regprocedure) AS c`)).toEqual([{ c: 'user function' }]);
    expect(await q('SELECT count(*)::int AS n FROM public."pgincr_x; Type: COMMENT;"')).toEqual([{ n: 2 }]);
    expect(await q('SELECT id, v FROM pgincr_data.items')).toEqual([{ id: 1, v: 'one' }]);
    expect(await q('SELECT public.tricky() AS t')).toEqual([{ t: FAKE_HEADERS }]);
    expect(await q("SELECT evtname, obj_description(oid, 'pg_event_trigger') AS c FROM pg_event_trigger ORDER BY 1")).toEqual([
      { evtname: 'pgincr_user', c: "the user's own" },
    ]);
    expect(await q('SELECT tgname FROM pg_trigger WHERE NOT tgisinternal ORDER BY 1')).toEqual([{ tgname: 'pgincr_audit' }]);
    expect(await q("SELECT nspname FROM pg_namespace WHERE nspname LIKE 'pgincr%' ORDER BY 1")).toEqual([{ nspname: 'pgincr_data' }]);
  }

  it('plain base (dump.sql.gz): kept, and restored', async () => {
    const { dump, lsn } = await base('plain_src', {});
    expect(dump.format).toBe('plain');
    const script = gunzipSync(readFileSync(dump.path)).toString('utf8');
    expect(script).toContain('CREATE EVENT TRIGGER pgincr_user');
    expect(script).not.toMatch(/EXECUTE FUNCTION pgincr\./);
    await createTargetDatabase(pg.profile(), 'plain_dst', { restoreId: 'plain' });
    await restoreBase({ profile: pg.profile('plain_dst'), restoreId: 'plain', baseLsn: lsn, dump });
    await expectUserObjectsOnly('plain_dst');
  });

  it('directory base (dump.dir + dump.list): kept, and restored with parallel jobs and with one', async () => {
    const { dump, lsn, dir } = await base('dir_src', { dumpFormat: 'directory', dumpJobs: 2 });
    expect(dump.format).toBe('directory');
    expect(existsSync(join(dir, 'dump.list'))).toBe(true);
    expect(readFileSync(join(dir, 'README.txt'), 'utf8')).toContain('pg_restore -L dump.list -d NEWDB dump.dir');
    for (const jobs of [2, 1]) {
      const db = `dir_dst_${jobs}`;
      await createTargetDatabase(pg.profile(), db, { restoreId: db });
      await restoreBase({ profile: pg.profile(db), restoreId: db, baseLsn: lsn, dump: { ...dump, jobs } as BaseDump });
      await expectUserObjectsOnly(db);
    }
    // By hand, as written: docs/restore.md's command, and the base's README.txt's in its folder.
    const doc = /`(pg_restore -j 4 --exit-on-error -L [^`]*)`/.exec(readFileSync(join(__dirname, '../../../docs/restore.md'), 'utf8'))?.[1];
    expect(doc).toBeDefined();
    const readme = /^ {2}(pg_restore -L .*NEWDB.*)$/m.exec(readFileSync(join(dir, 'README.txt'), 'utf8'))?.[1];
    expect(readme).toBeDefined();
    const env = { ...process.env, ...pg.env(), CHAIN: dirname(dirname(dir)), BASE: basename(dir) };
    for (const [db, command] of [
      ['dir_doc', doc!],
      ['dir_readme', readme!.replace('NEWDB', 'dir_readme')],
    ] as const) {
      await pg.createDatabase(db);
      execFileSync('bash', ['-e', '-c', command], { env: { ...env, DB: db }, cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
      await expectUserObjectsOnly(db);
    }
  });
});
