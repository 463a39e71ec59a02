import { existsSync } from 'node:fs';
import { runPreflight } from '../../src/setup/preflight';
import { freePort, startCluster, type PgCluster } from '../helpers/pg-cluster';

describe('preflight', () => {
  let pg: PgCluster;
  beforeAll(async () => {
    pg = await startCluster();
    await pg.createDatabase('app');
  });
  afterAll(async () => {
    await pg?.stop();
  });

  const byCheck = (findings: { check: string; status: string; message: string }[], check: string) => findings.find((f) => f.check === check);

  it('reports ready on a logical cluster (only the unlimited max_slot_wal_keep_size warns)', async () => {
    const report = await runPreflight(pg.profile('app'), { decoder: 'pgoutput', slot: 'pgincr' });
    expect(report.findings.filter((f) => f.status === 'fail')).toEqual([]);
    expect(report.findings.filter((f) => f.status === 'warning').map((f) => f.check)).toEqual(['max_slot_wal_keep_size']);
    expect(report.exitCode).toBe(1);
    expect(report.server).toMatch(/^PostgreSQL 15\./);

    await pg.query("ALTER SYSTEM SET max_slot_wal_keep_size = '1GB'");
    await pg.query('SELECT pg_reload_conf()');
    const ready = await runPreflight(pg.profile('app'), { decoder: 'pgoutput', slot: 'pgincr' });
    expect(ready).toMatchObject({ status: 'ready', exitCode: 0, ready: true });
  });

  it('warns naming tables without a key and UNLOGGED tables', async () => {
    await pg.query(
      `CREATE SCHEMA "Odd Schema";
      CREATE TABLE "Odd Schema"."Mixed Case" (a int);
      CREATE TABLE public.keyed (id int PRIMARY KEY);
      CREATE TABLE public.full_ident (a int); ALTER TABLE public.full_ident REPLICA IDENTITY FULL;
      CREATE UNLOGGED TABLE public.scratch (id int PRIMARY KEY);`,
      [],
      'app',
    );
    const report = await runPreflight(pg.profile('app'), { decoder: 'pgoutput' });
    const identity = byCheck(report.findings, 'replica identity');
    expect(identity?.status).toBe('warning');
    expect(identity?.message).toContain('"Odd Schema"."Mixed Case"');
    expect(identity?.message).not.toContain('keyed');
    expect(identity?.message).not.toContain('full_ident');
    const unlogged = byCheck(report.findings, 'unlogged tables');
    expect(unlogged?.status).toBe('warning');
    expect(unlogged?.message).toContain('"public"."scratch"');
    expect(report.exitCode).toBe(1);
    await pg.query('DROP SCHEMA "Odd Schema" CASCADE; DROP TABLE public.scratch', [], 'app');
  });

  it('warns about large objects', async () => {
    await pg.query('SELECT lo_create(0)', [], 'app');
    const report = await runPreflight(pg.profile('app'), { decoder: 'pgoutput' });
    expect(byCheck(report.findings, 'large objects')).toMatchObject({ status: 'warning', message: expect.stringContaining('1 large objects') });
    await pg.query('SELECT lo_unlink(oid) FROM pg_largeobject_metadata', [], 'app');
  });

  it('fails when the decoder is not allowed or cannot be loaded', async () => {
    const report = await runPreflight(pg.profile('app'), { decoder: 'decoder_raw' });
    const plugin = byCheck(report.findings, 'output plugin');
    expect(plugin?.status).toBe('fail');
    // This server build has output_plugin_libraries (15.19+): the message says what to set.
    expect(plugin?.message).toContain("set output_plugin_libraries = 'pgoutput, test_decoding, decoder_raw'");
    expect(report.exitCode).toBe(2);

    await pg.query('ALTER SYSTEM SET output_plugin_libraries = pgoutput, test_decoding, decoder_raw');
    await pg.query('SELECT pg_reload_conf()');
    try {
      const again = await runPreflight(pg.profile('app'), { decoder: 'decoder_raw' });
      // Allowed now; whether it loads depends on whether this machine has the plugin built.
      const installed = existsSync('/usr/lib/postgresql/15/lib/decoder_raw.so');
      expect(byCheck(again.findings, 'output plugin')).toMatchObject(
        installed
          ? { status: 'ok', message: expect.stringContaining('decoder_raw is available') }
          : { status: 'fail', message: expect.stringContaining('cannot be loaded') },
      );
      const slots = await pg.query('SELECT slot_name FROM pg_replication_slots');
      expect(slots).toEqual([]);
    } finally {
      await pg.query('ALTER SYSTEM RESET output_plugin_libraries');
      await pg.query('SELECT pg_reload_conf()');
    }
  });

  it('fails for a slot name taken by another plugin', async () => {
    await pg.query("SELECT pg_create_logical_replication_slot('taken', 'test_decoding')", [], 'app');
    try {
      const report = await runPreflight(pg.profile('app'), { decoder: 'pgoutput', slot: 'taken' });
      expect(byCheck(report.findings, 'slot')).toMatchObject({ status: 'fail', message: expect.stringContaining('plugin test_decoding') });
    } finally {
      await pg.query("SELECT pg_drop_replication_slot('taken')");
    }
  });

  it('is not ready, naming wal_level, on a replica-level cluster', async () => {
    const other = await startCluster({ settings: { wal_level: 'replica' } });
    try {
      const report = await runPreflight(other.profile(), { decoder: 'pgoutput' });
      expect(report.exitCode).toBe(2);
      expect(byCheck(report.findings, 'wal_level')).toMatchObject({
        status: 'fail',
        message: "wal_level is 'replica'; set wal_level = logical in postgresql.conf and restart",
      });
    } finally {
      await other.stop();
    }
  });

  it('turns a refused connection and a missing database into fail findings', async () => {
    const port = await freePort();
    const refused = await runPreflight({ host: '127.0.0.1', port, user: 'nobody', dbname: 'x' }, { decoder: 'pgoutput' });
    expect(refused).toMatchObject({ exitCode: 2, status: 'not ready' });
    expect(refused.findings).toEqual([expect.objectContaining({ check: 'connection', status: 'fail', message: expect.stringContaining('ECONNREFUSED') })]);

    const missing = await runPreflight(pg.profile('no_such_db'), { decoder: 'pgoutput' });
    expect(missing.findings).toEqual([expect.objectContaining({ check: 'connection', status: 'fail', message: expect.stringContaining('no_such_db') })]);
    expect(missing.findings[0]?.hint).toMatch(/create the database/);
  });
});
