/**
 * Database names that libpq would read as a connection string (`host=… dbname=…`,
 * `postgresql://…`) or a program as an option (`-X`, `--help`), and names with spaces, quotes
 * and backslashes: every path that hands a name to pg_restore, pg_dumpall or pg_recvlogical
 * names exactly that database on the profile's server, and nothing else. The names that would
 * redirect point at the `decoy` database of the same cluster: it must stay empty.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startCluster, type PgCluster } from '../../helpers/pg-cluster';
import { waitFor } from '../../helpers/pgincr-env';
import { RecvlogicalSupervisor } from '../../../src/adapters/exec/pg-recvlogical';
import { runPgDumpall } from '../../../src/adapters/exec/pg-tools';
import { createTargetDatabase } from '../../../src/restore/create-target';
import { restoreBase } from '../../../src/restore/restore-base';

jest.setTimeout(300_000);

describe('database names reach the client programs as names only', () => {
  let pg: PgCluster;
  let dir: string;
  let dumpDir: string;
  let names: string[];

  const userTables = async (db: string) =>
    (await pg.query<{ t: string }>("SELECT relname AS t FROM pg_class WHERE relkind = 'r' AND relnamespace = 'public'::regnamespace ORDER BY 1", [], db)).map(
      (r) => r.t,
    );

  /** Creates `name` unless an earlier test did (each test can run alone). */
  const ensureDatabase = async (name: string) => {
    if ((await pg.query('SELECT 1 FROM pg_database WHERE datname = $1', [name])).length === 0) await pg.createDatabase(name);
  };

  beforeAll(async () => {
    pg = await startCluster();
    dir = mkdtempSync(join(tmpdir(), 'pgincr-names-'));
    names = [
      `host=127.0.0.1 port=${pg.port} dbname=decoy`,
      `postgresql://127.0.0.1:${pg.port}/decoy`,
      'host=127.0.0.1 port=1 dbname=x',
      '-X',
      '--help',
      `it's a "quoted" \\ name`,
    ];
    await pg.createDatabase('decoy');
    await pg.createDatabase('src');
    await pg.query("CREATE TABLE public.accounts (id int PRIMARY KEY, name text); INSERT INTO public.accounts VALUES (1, 'alice'), (2, 'bob')", [], 'src');
    dumpDir = join(dir, 'dump.dir');
    execFileSync('pg_dump', ['-Fd', '-f', dumpDir, 'src'], { env: { ...process.env, ...pg.env() } });
  });

  afterAll(async () => {
    await pg?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('restores a directory base with parallel jobs into each target, literally named', async () => {
    for (const [i, name] of names.entries()) {
      await createTargetDatabase(pg.profile(), name, { restoreId: `names${i}` });
      await restoreBase({ profile: pg.profile(name), restoreId: `names${i}`, baseLsn: '0/3000000', dump: { format: 'directory', path: dumpDir, jobs: 2 } });
      expect(await pg.query('SELECT id, name FROM public.accounts ORDER BY id', [], name)).toEqual([
        { id: 1, name: 'alice' },
        { id: 2, name: 'bob' },
      ]);
    }
    const dbs = (await pg.query<{ d: string }>('SELECT datname AS d FROM pg_database WHERE NOT datistemplate ORDER BY 1')).map((r) => r.d);
    expect(dbs.sort()).toEqual(['decoy', 'postgres', 'src', ...names].sort());
    expect(await userTables('decoy')).toEqual([]);
  });

  it('dumps globals through a source profile with each name', async () => {
    for (const [i, name] of names.entries()) {
      await ensureDatabase(name);
      const out = join(dir, `globals-${i}.sql`);
      await runPgDumpall({ profile: pg.profile(name), outPath: out, noRolePasswords: true, database: name });
      expect(readFileSync(out, 'utf8')).toContain(`CREATE ROLE ${pg.user}`);
    }
  });

  it('starts pg_recvlogical on the slot of each database', async () => {
    // decoder_raw is not needed to see where pg_recvlogical connected: on a test_decoding slot,
    // START_REPLICATION gets past the slot's database check and then refuses decoder_raw's
    // option; in any other database it stops at "was not created in this database".
    for (const [i, name] of names.entries()) {
      const slot = `names_${i}`;
      await ensureDatabase(name);
      await pg.query("SELECT pg_create_logical_replication_slot($1, 'test_decoding')", [slot], name);
      const lines: string[] = [];
      const supervisor = new RecvlogicalSupervisor({
        profile: pg.profile(name),
        slot,
        file: join(dir, `${slot}.raw`),
        fsyncIntervalS: 1,
        serverEncoding: 'UTF8',
        log: { info: () => undefined, warn: (_o, msg) => lines.push(msg) },
        beforeStart: async () => undefined,
      });
      try {
        await supervisor.start();
        const server = () => lines.filter((l) => /ERROR|error:/.test(l));
        await waitFor(`an answer from the server to pg_recvlogical for ${JSON.stringify(name)}`, async () => server().length > 0, 15_000);
        expect(server()[0]).toMatch(/option "include_transaction" = "on" is unknown/);
      } finally {
        await supervisor.stop();
      }
    }
  });
});
