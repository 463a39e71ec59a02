/**
 * Table-level restore (issue 21), what comes with the chosen table and what does not, through
 * bin/pgincr on a directory-format base (`pg_dump -Fd`), against real PostgreSQL and Temporal:
 * - only the types and functions the table uses come along (its column types, a domain and the
 *   function its CHECK calls, a default's plpgsql function and the function its body names only
 *   as text, a trigger's function, an index expression's and a generated column's function), the rest is left out and
 *   reported; a view over the table is kept, one also over a table left out is reported;
 * - only the chosen table's data file of the base is read;
 * - `verify --tables` compares the sequences the table owns or calls in defaults;
 * - `--into-schema` brings those sequences (at their positions) and the view into the new
 *   schema, the defaults calling the new schema's sequences, and changes nothing outside it
 *   (a catalog dump and every live sequence compared before and after).
 */
import { execFile, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { startCluster, type PgCluster } from '../../helpers/pg-cluster';
import { TEST_NAMESPACE, temporalAddress, terminateIfRunning } from '../../helpers/temporal';
import { workflowIds } from '../../../src/workflows/ids';
import { databaseChecksums } from '../../../src/adapters/pg/checksums';
import { startWorkerProcess, stopWorkerProcess } from '../../helpers/worker-process';

jest.setTimeout(420_000);

const ROOT = resolve(__dirname, '../../..');
const BIN = join(ROOT, 'bin/pgincr');
const PROFILE = 'app';

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

describe('a partial restore brings what the table needs and nothing else (directory base)', () => {
  let pg: PgCluster;
  let dir: string;
  let configFile: string;
  let worker: ChildProcess | undefined;
  let passed = 0;

  function cli(args: string[]): Promise<Run> {
    const env = { ...process.env };
    delete env.TEMPORAL_ADDRESS;
    return new Promise((done) => {
      execFile(BIN, [...args, '--config', configFile], { cwd: dir, env, timeout: 300_000 }, (err, stdout, stderr) =>
        done({ code: err ? ((err as { code?: number }).code ?? -1) : 0, stdout, stderr }),
      );
    });
  }
  const sql = <T extends Record<string, unknown>>(text: string, db = 'app') => pg.query<T>(text, [], db);
  const names = async (db: string, query: string) => (await sql<{ n: string }>(query, db)).map((r) => r.n);
  const FUNCTIONS = `SELECT p.oid::regprocedure::text AS n FROM pg_proc p WHERE p.pronamespace = 'public'::regnamespace ORDER BY 1`;
  const TYPES = `SELECT t.oid::regtype::text AS n FROM pg_type t WHERE t.typnamespace = 'public'::regnamespace AND t.typtype IN ('e', 'd', 'c') AND (t.typrelid = 0 OR (SELECT relkind FROM pg_class WHERE oid = t.typrelid) = 'c') ORDER BY 1`;

  beforeAll(async () => {
    pg = await startCluster();
    await pg.createDatabase('app');
    await sql(`
      CREATE TYPE public.mood AS ENUM ('ok', 'bad');
      CREATE TYPE public.unused_enum AS ENUM ('x');
      CREATE TYPE public.pair AS (a int, b text);
      CREATE FUNCTION public.positive(int) RETURNS boolean LANGUAGE sql IMMUTABLE AS 'SELECT $1 > 0';
      CREATE DOMAIN public.qty AS int CHECK (public.positive(VALUE));
      -- code_prefix() is named only in next_code()'s plpgsql body: pg_depend does not know it.
      CREATE FUNCTION public.code_prefix() RETURNS text LANGUAGE sql STABLE AS $$SELECT 'T-'$$;
      -- ... and so is code_seq, a sequence no table owns.
      CREATE SEQUENCE public.code_seq;
      CREATE FUNCTION public.next_code() RETURNS text LANGUAGE plpgsql AS $$BEGIN RETURN code_prefix() || 'x' || nextval('public.code_seq'); END$$;
      CREATE FUNCTION public.touch() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN NEW.touched := now(); RETURN NEW; END$$;
      CREATE FUNCTION public.label(public.mood) RETURNS text LANGUAGE sql IMMUTABLE AS $$SELECT $1::text$$;
      CREATE FUNCTION public.twice(int) RETURNS int LANGUAGE sql IMMUTABLE AS 'SELECT $1 * 2';
      CREATE FUNCTION public.unused(int) RETURNS int LANGUAGE sql AS 'SELECT 1';
      CREATE FUNCTION public.uses_pair(public.pair) RETURNS int LANGUAGE sql AS 'SELECT $1.a';
      CREATE SEQUENCE public.shared_seq;
      CREATE TABLE public.tickets (id bigserial PRIMARY KEY, code text NOT NULL DEFAULT public.next_code(),
                                   n bigint NOT NULL DEFAULT nextval('public.shared_seq'), mood public.mood NOT NULL DEFAULT 'ok',
                                   qty public.qty, touched timestamptz, dbl int GENERATED ALWAYS AS (public.twice(qty)) STORED);
      CREATE INDEX tickets_label ON public.tickets (public.label(mood));
      CREATE TRIGGER tickets_touch BEFORE INSERT OR UPDATE ON public.tickets FOR EACH ROW EXECUTE FUNCTION public.touch();
      CREATE TABLE public.other (id serial PRIMARY KEY, e public.unused_enum, pad text);
      CREATE VIEW public.ticket_moods AS SELECT mood, count(*) AS n FROM public.tickets GROUP BY mood;
      CREATE VIEW public.mixed AS SELECT t.id FROM public.tickets t JOIN public.other o ON o.id = t.id;
      INSERT INTO public.tickets (qty) SELECT 1 + g % 5 FROM generate_series(1, 100) g;
      INSERT INTO public.other (e, pad) SELECT 'x', repeat(md5(g::text), 8) FROM generate_series(1, 20000) g;`);
    dir = mkdtempSync(join(tmpdir(), 'pgincr-partial-objects-'));
    configFile = join(dir, 'pgincr.json');
    const a = pg.profile('app');
    writeFileSync(
      configFile,
      JSON.stringify({
        repository: join(dir, 'repository'),
        profiles: { [PROFILE]: { host: a.host, port: a.port, dbname: 'app', user: a.user } },
        defaultProfile: PROFILE,
        setup: { dumpFormat: 'directory' },
        capture: { segmentMaxBytes: 67108864, segmentMaxAge: '15m', compress: 'gzip' },
        temporal: { address: temporalAddress(), namespace: TEST_NAMESPACE, taskQueue: `partial-objects-${process.pid}-${Date.now()}` },
      }),
    );
    worker = await startWorkerProcess(configFile, join(dir, 'worker.log'));
  });

  afterAll(async () => {
    await terminateIfRunning(workflowIds.capture(PROFILE, 'pgincr'));
    await stopWorkerProcess(worker);
    await pg?.stop();
    if (dir && passed === 3) rmSync(dir, { recursive: true, force: true });
    else if (dir) process.stderr.write(`partial-restore-objects: kept ${dir} (worker.log, repository) for inspection\n`);
  });

  it('keeps the types and functions the table uses (by pg_depend and by body text), leaves out the rest, reads only its data file', async () => {
    const setup = await cli(['setup']);
    expect({ code: setup.code, stderr: setup.stderr }).toMatchObject({ code: 0 });
    // After the base: rows, DDL on a type the table does not use (applied, then left out).
    await sql(`INSERT INTO public.tickets (qty, mood) SELECT 2, 'bad' FROM generate_series(1, 30);
               UPDATE public.tickets SET qty = 4 WHERE id % 7 = 0;
               ALTER TYPE public.unused_enum ADD VALUE 'y';
               INSERT INTO public.other (e) VALUES ('x')`);
    const restore = await cli(['restore', '--target-db', 'app_t', '--tables', 'public.tickets']);
    expect({ code: restore.code, stderr: restore.stderr }).toMatchObject({ code: 0 });
    const source = (await databaseChecksums(pg.profile('app'))).tables;
    expect((await databaseChecksums(pg.profile('app_t'))).tables).toEqual({ '"public"."tickets"': source['"public"."tickets"'] });
    // The base's other table: its data file was never read.
    expect(restore.stdout).toMatch(/\nbase: only their data loaded \(1 other table\(s\); 1 data file\(s\) of the base, \d+\.\d MiB on disk, never read\)\n/);
    expect(await names('app_t', FUNCTIONS)).toEqual(['code_prefix()', 'label(mood)', 'next_code()', 'positive(integer)', 'touch()', 'twice(integer)']);
    expect(await names('app_t', TYPES)).toEqual(['mood', 'qty']);
    expect(restore.stdout).toContain(
      'types and functions left out (no restored relation uses them): function public.unused(integer), function public.uses_pair(public.pair), type public.pair, type public.unused_enum\n',
    );
    expect(restore.stdout).toContain("kept since a kept function's body names them: function public.code_prefix()\n");
    expect(restore.stdout).toContain('views kept (they read only restored tables): public.ticket_moods\n');
    expect(restore.stdout).toContain('view left out (it reads a table not restored): public.mixed (reads public.other)\n');
    expect(
      await names('app_t', `SELECT relname AS n FROM pg_class WHERE relnamespace = 'public'::regnamespace AND relkind IN ('r', 'v', 'S') ORDER BY 1`),
    ).toEqual(['code_seq', 'shared_seq', 'ticket_moods', 'tickets', 'tickets_id_seq']);
    // code_seq stands where the source's stands (the segments' recorded positions).
    const codeSeq = `SELECT last_value::text AS n FROM public.code_seq`;
    expect(await names('app_t', codeSeq)).toEqual(await names('app', codeSeq));
    // What a DBA expects of the restored table: its defaults, trigger, domain and index work.
    const [row] = await sql<{ code: string; touched: boolean; n: string }>(
      `INSERT INTO public.tickets (qty) VALUES (3) RETURNING code, touched IS NOT NULL AS touched, n::text`,
      'app_t',
    );
    expect(row).toEqual({ code: 'T-x131', touched: true, n: String(131) });
    await expect(sql(`INSERT INTO public.tickets (qty) VALUES (-1)`, 'app_t')).rejects.toThrow(/qty_check/);
    expect(await sql(`SELECT count(*)::int AS n FROM public.tickets WHERE public.label(mood) = 'bad'`, 'app_t')).toEqual([{ n: 30 }]);
    expect(await sql(`SELECT dbl FROM public.tickets WHERE qty = 3 ORDER BY id DESC LIMIT 1`, 'app_t')).toEqual([{ dbl: 6 }]);
    passed++;
  });

  it('verify --tables compares the sequences the table owns, calls in defaults, or its functions may call', async () => {
    const verify = await cli(['verify', '--checkpoint', '--tables', 'public.tickets']);
    expect({ code: verify.code, stderr: verify.stderr }).toMatchObject({ code: 0 });
    expect(verify.stdout).toMatch(/^OK: verified 1 table\(s\) and 3 sequence\(s\) only: public\.tickets \(base /);
    passed++;
  });

  it('--into-schema brings the sequences (at the target) and the view, the defaults call the new schema; nothing outside it changes', async () => {
    const outside = () => {
      const dump = spawnSync('pg_dump', ['--schema-only', '--exclude-schema=recovered', '-d', 'app'], {
        env: { ...process.env, ...pg.env('app') },
        encoding: 'utf8',
      });
      expect(dump.status).toBe(0);
      // pg_dump's \restrict key is new at every run.
      return dump.stdout.replace(/^\\(?:un)?restrict .*$/gm, '');
    };
    const liveSequences = `SELECT schemaname || '.' || sequencename || '=' || coalesce(last_value::text, '-') AS n FROM pg_sequences WHERE schemaname NOT IN ('recovered', 'pgincr') ORDER BY 1`;
    const catalogBefore = outside();
    const sequencesBefore = await names('app', liveSequences);
    const tablesBefore = (await databaseChecksums(pg.profile('app'))).tables;
    const into = await cli(['restore', '--target-db', 'app', '--tables', 'public.tickets', '--into-schema', 'recovered']);
    expect({ code: into.code, stderr: into.stderr }).toMatchObject({ code: 0 });
    expect(
      await names(
        'app',
        `SELECT relname || ':' || relkind::text AS n FROM pg_class WHERE relnamespace = 'recovered'::regnamespace AND relkind IN ('r', 'v', 'S') ORDER BY 1`,
      ),
    ).toEqual(['code_seq:S', 'shared_seq:S', 'ticket_moods:v', 'tickets:r', 'tickets_id_seq:S']);
    // The defaults call the new schema's sequences, which stand where the live ones stood at the target.
    expect(
      await names(
        'app',
        `SELECT a.attname || ' ' || pg_get_expr(d.adbin, d.adrelid) AS n FROM pg_attrdef d JOIN pg_attribute a ON a.attrelid = d.adrelid AND a.attnum = d.adnum WHERE d.adrelid = 'recovered.tickets'::regclass AND a.attname IN ('id', 'n') ORDER BY 1`,
      ),
    ).toEqual(["id nextval('recovered.tickets_id_seq'::regclass)", "n nextval('recovered.shared_seq'::regclass)"]);
    const positions = `SELECT sequencename || '=' || last_value AS n FROM pg_sequences WHERE sequencename IN ('shared_seq', 'tickets_id_seq') AND schemaname = $$SCHEMA$$ ORDER BY 1`;
    expect(await names('app', positions.replace('$$SCHEMA$$', "'recovered'"))).toEqual(await names('app', positions.replace('$$SCHEMA$$', "'public'")));
    expect(await sql(`SELECT count(*)::int AS n FROM recovered.ticket_moods`)).toEqual([{ n: 2 }]);
    // The report names the live functions the copy's defaults and trigger call (next_code() draws from the live code_seq).
    expect(into.stdout).toContain(
      "the copies' defaults, constraints and triggers call app's own functions (a sequence such a function uses is the live one): public.next_code(), public.touch(), public.twice(integer)\n",
    );
    // A row added to the copy (its code given) draws from the copy's sequences only.
    await sql(`INSERT INTO recovered.tickets (qty, code) VALUES (1, 'by hand')`);
    expect(await names('app', liveSequences)).toEqual(sequencesBefore);
    // Nothing outside the new schema changed: catalog, sequences, tables.
    expect(outside()).toEqual(catalogBefore);
    const tablesAfter = (await databaseChecksums(pg.profile('app'))).tables;
    for (const [t, v] of Object.entries(tablesBefore)) expect({ t, v: tablesAfter[t] }).toEqual({ t, v });
    // Again: refused, nothing changed.
    const again = await cli(['restore', '--target-db', 'app', '--tables', 'public.tickets', '--into-schema', 'recovered']);
    expect(again.code).not.toBe(0);
    expect(again.stderr).toContain('schema "recovered" already exists in database "app"');
    expect(outside()).toEqual(catalogBefore);
    passed++;
  });
});
