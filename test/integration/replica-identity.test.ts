/**
 * The replica identity follows the schema (migration 6): after setup, a table created without a
 * key gets FULL, moves to USING INDEX and DEFAULT as keys appear (in the DDL's transaction, so
 * the stream replays in order) and back when they go; an identity a user chose is never changed,
 * by setup or by the trigger; preflight and `pgincr check` name FULL tables that have a key.
 * Driven as a user would: `pgbench -i` and `pgbench` after setup, DDL from a non-superuser role too.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runPreflight } from '../../src/setup/preflight';
import { runHealthCheck } from '../../src/monitor/check';
import { fixReplicaIdentity } from '../../src/adapters/pg/replica-identity';
import { migrate, MIGRATIONS } from '../../src/adapters/pg/migrations';
import { parseConfig } from '../../src/config';
import { startCluster, type PgCluster } from '../helpers/pg-cluster';
import { captureAndStop, expectRestoreEqualsSource, setUpChain, tearDownChain, type DirectChain } from '../helpers/direct-pipeline';

jest.setTimeout(300_000);

const SCHEMA = `
CREATE TABLE public.user_full (id int PRIMARY KEY, v text);
ALTER TABLE public.user_full REPLICA IDENTITY FULL;
CREATE TABLE public.legacy (a int NOT NULL, b text);
INSERT INTO public.user_full VALUES (1, 'one'), (2, 'two');
INSERT INTO public.legacy VALUES (1, 'x'), (2, 'y');
CREATE ROLE app_owner LOGIN;
GRANT CREATE, USAGE ON SCHEMA public TO app_owner;
`;

describe('replica identity follows the schema', () => {
  let pg: PgCluster;
  let chain: DirectChain;
  const DB = 'ri_src';
  const identities = async (...tables: string[]) =>
    Object.fromEntries(
      (
        await pg.query<{ relname: string; ident: string }>(
          `SELECT c.relname, c.relreplident::text || coalesce(':' || (SELECT ic.relname FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid
                                                         WHERE i.indrelid = c.oid AND i.indisreplident), '') AS ident
     FROM pg_class c WHERE c.relname = ANY($1) AND c.relnamespace = 'public'::regnamespace`,
          [tables],
          DB,
        )
      ).map((r) => [r.relname, r.ident]),
    );
  const pgbench = (args: string[]) => execFileSync('pgbench', [...args, DB], { env: { ...process.env, ...pg.env(DB) }, stdio: 'pipe' });

  beforeAll(async () => {
    pg = await startCluster();
    chain = await setUpChain(pg, DB, SCHEMA);
  });
  afterAll(async () => {
    if (chain) await tearDownChain(pg, chain, `${DB}_restored`);
    await pg?.stop();
  });

  it("setup gives a keyless table FULL and leaves a user's FULL on a keyed table alone", async () => {
    expect(await identities('user_full', 'legacy')).toEqual({ user_full: 'f', legacy: 'f' });
    const managed = await pg.query<{ table_name: string; identity: string }>('SELECT table_name, identity FROM pgincr.managed_identity ORDER BY 1', [], DB);
    expect(managed).toEqual([{ table_name: 'public.legacy', identity: 'f' }]);
  });

  it('pgbench -i after setup: the tables end with their primary keys as identity; pgbench runs on them', async () => {
    pgbench(['-i', '-s', '1', '-q']);
    expect(await identities('pgbench_accounts', 'pgbench_branches', 'pgbench_tellers', 'pgbench_history')).toEqual({
      pgbench_accounts: 'd',
      pgbench_branches: 'd',
      pgbench_tellers: 'd',
      pgbench_history: 'f',
    });
    pgbench(['-c', '2', '-t', '200']);
    const [{ n }] = (await pg.query<{ n: number }>('SELECT count(*)::int AS n FROM pgbench_history', [], DB)) as [{ n: number }];
    expect(n).toBe(400);
  });

  it('a keyless table: FULL, then USING INDEX, DEFAULT with a primary key, and back when keys are dropped', async () => {
    const owner = await pg.connect(DB);
    const step = async (sql: string) => {
      await owner.query(sql);
      await owner.query("UPDATE public.evolving SET v = v || '.'");
      return (await identities('evolving')).evolving;
    };
    try {
      expect(
        await step("CREATE TABLE public.evolving (a int, b int NOT NULL, v text); INSERT INTO public.evolving SELECT g, g, 'r' FROM generate_series(1, 50) g"),
      ).toBe('f');
      expect(await step('CREATE UNIQUE INDEX evolving_a ON public.evolving (a)')).toBe('f'); // a is nullable
      expect(await step('CREATE UNIQUE INDEX evolving_b ON public.evolving (b)')).toBe('i:evolving_b');
      expect(await step('ALTER TABLE public.evolving ADD PRIMARY KEY (b)')).toBe('d');
      expect(await step('ALTER TABLE public.evolving DROP CONSTRAINT evolving_pkey')).toBe('i:evolving_b');
      expect(await step('DROP INDEX public.evolving_b')).toBe('f');
      expect(await step('ALTER TABLE public.evolving ALTER COLUMN a SET NOT NULL')).toBe('i:evolving_a');
      // In one transaction with DML on both sides: the stream must replay the identity change in order.
      await owner.query('BEGIN');
      await owner.query('DELETE FROM public.evolving WHERE b = 1');
      await owner.query('ALTER TABLE public.evolving ADD CONSTRAINT evolving_pk PRIMARY KEY (b)');
      await owner.query("UPDATE public.evolving SET v = 'after pk' WHERE b = 2");
      await owner.query('COMMIT');
      expect((await identities('evolving')).evolving).toBe('d');
    } finally {
      await owner.end();
    }
  });

  it('works for DDL of a role that is not a superuser; a dropped table leaves managed_identity', async () => {
    const owner = await pg.connect(DB, { user: 'app_owner' });
    try {
      await owner.query('CREATE TABLE public.owned (k int NOT NULL, v text)');
      expect((await identities('owned')).owned).toBe('f');
      await owner.query('ALTER TABLE public.owned ADD PRIMARY KEY (k)');
      expect((await identities('owned')).owned).toBe('d');
      await owner.query('ALTER TABLE public.owned DROP CONSTRAINT owned_pkey');
      expect((await identities('owned')).owned).toBe('f');
      await owner.query('DROP TABLE public.owned');
    } finally {
      await owner.end();
    }
    expect(await pg.query("SELECT table_name FROM pgincr.managed_identity WHERE table_name = 'public.owned'", [], DB)).toEqual([]);
  });

  it('never changes an identity a user chose, managed before or not', async () => {
    const q = (sql: string) => pg.query(sql, [], DB);
    await q('ALTER TABLE public.user_full ADD COLUMN w int');
    await q('CREATE UNIQUE INDEX user_full_v ON public.user_full (id, v)');
    // legacy was set FULL by setup; the user says FULL themselves, then adds a key.
    await q('ALTER TABLE public.legacy REPLICA IDENTITY FULL');
    await q('ALTER TABLE public.legacy ADD PRIMARY KEY (a)');
    await q("UPDATE public.legacy SET b = b || '!'");
    expect(await identities('user_full', 'legacy')).toEqual({ user_full: 'f', legacy: 'f' });
    expect(await pg.query("SELECT table_name FROM pgincr.managed_identity WHERE table_name IN ('public.user_full', 'public.legacy')", [], DB)).toEqual([]);
    // A second setup pass agrees (one rule), and changes nothing.
    const client = await pg.connect(DB);
    const again = await fixReplicaIdentity(client, { apply: true }).finally(() => client.end());
    expect(again.filter((r) => r.changed)).toEqual([]);
    expect(again.filter((r) => /user_full|legacy|pgbench_accounts/.test(r.table))).toEqual([
      { table: '"public"."legacy"', action: 'full', changed: false },
      { table: '"public"."pgbench_accounts"', action: 'primary key', changed: false },
      { table: '"public"."user_full"', action: 'full', changed: false },
    ]);
  });

  it('preflight and check name the FULL tables that have a key, with the fix', async () => {
    const report = await runPreflight(pg.profile(DB), { decoder: 'pgoutput' });
    const finding = report.findings.find((f) => f.check === 'replica identity full');
    expect(finding).toMatchObject({ status: 'warning' });
    expect(finding?.message).toContain('"public"."legacy" (primary key), "public"."user_full" (primary key)');
    expect(finding?.message).not.toContain('pgbench');
    expect(finding?.hint).toContain('ALTER TABLE "public"."legacy" REPLICA IDENTITY DEFAULT;');

    const dir = mkdtempSync(join(tmpdir(), 'pgincr-ri-check-'));
    try {
      const alerts = parseConfig({ repository: dir, profiles: { default: pg.profile(DB) } }, {}).alerts;
      const health = await runHealthCheck({ profile: pg.profile(DB), slot: chain.slot, chainDir: dir, alerts });
      const identity = health.findings.find((f) => f.check === 'replica identity');
      expect(identity).toMatchObject({
        severity: 'warning',
        value: 2,
        hint: expect.stringContaining('ALTER TABLE "public"."user_full" REPLICA IDENTITY DEFAULT;'),
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("an upgrade from schema version 5: a table the old guard made FULL follows its key at the next setup; a user's FULL stays", async () => {
    await pg.createDatabase('ri_upgrade');
    const c = await pg.connect('ri_upgrade');
    try {
      await migrate(
        c,
        MIGRATIONS.filter((m) => m.version <= 5),
      );
      await c.query('CREATE TABLE public.old_guarded (id int, v text)');
      await c.query('ALTER TABLE public.old_guarded ADD PRIMARY KEY (id)');
      await c.query('CREATE TABLE public.users_full (id int PRIMARY KEY)');
      await c.query('ALTER TABLE public.users_full REPLICA IDENTITY FULL');
      const idents = async () =>
        (
          await c.query<{ relname: string; relreplident: string }>(
            "SELECT relname, relreplident FROM pg_class WHERE relname IN ('old_guarded', 'users_full') ORDER BY 1",
          )
        ).rows;
      expect(await idents()).toEqual([
        { relname: 'old_guarded', relreplident: 'f' },
        { relname: 'users_full', relreplident: 'f' },
      ]);
      await migrate(c);
      expect(await fixReplicaIdentity(c, { apply: true })).toEqual([
        { table: '"public"."old_guarded"', action: 'primary key', changed: true },
        { table: '"public"."users_full"', action: 'full', changed: false },
      ]);
      expect(await idents()).toEqual([
        { relname: 'old_guarded', relreplident: 'd' },
        { relname: 'users_full', relreplident: 'f' },
      ]);
    } finally {
      await c.end();
      await pg.query('DROP DATABASE ri_upgrade');
    }
  });

  it('the capture and restore of all that equals the source (identities included)', async () => {
    await captureAndStop(pg, chain, 120_000);
    await expectRestoreEqualsSource(pg, chain, `${DB}_restored`);
    expect(
      await pg.query<{ relname: string; relreplident: string }>(
        `SELECT relname, relreplident FROM pg_class WHERE relname IN ('pgbench_accounts', 'evolving', 'legacy') ORDER BY 1`,
        [],
        `${DB}_restored`,
      ),
    ).toEqual([
      { relname: 'evolving', relreplident: 'd' },
      { relname: 'legacy', relreplident: 'f' },
      { relname: 'pgbench_accounts', relreplident: 'd' },
    ]);
  });
});
