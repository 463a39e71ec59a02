/**
 * docs/design.md invariant 9, docs/security.md "Signed rows": rows of the capture tables come
 * from pgincr's writers only. Even a trusted role's direct INSERT (trigger active) is refused,
 * and the DDL writer refuses to run outside an event trigger; the writers themselves still work
 * (DDL recorded and signed, sequence positions recorded and signed).
 */
import { startCluster, type PgCluster } from '../../helpers/pg-cluster';
import { migrate } from '../../../src/adapters/pg/migrations';

jest.setTimeout(120_000);

describe('capture rows from pgincr writers only', () => {
  let pg: PgCluster;

  beforeAll(async () => {
    pg = await startCluster();
    await pg.createDatabase('w_src');
    const client = await pg.connect('w_src');
    try {
      await migrate(client);
    } finally {
      await client.end();
    }
  });
  afterAll(async () => {
    await pg?.stop();
  });

  it('refuses direct inserts and writer calls outside an event trigger; the writers still sign their rows', async () => {
    const su = await pg.connect('w_src');
    try {
      await expect(
        su.query(`INSERT INTO pgincr.ddl_history (xid, occurred_at, role_name, search_path, command_tag, object_types,
          object_identities, query, schema_version, phase, statement_ordinal)
        VALUES (0, now(), '', '', 'CREATE FUNCTION', '{}', '{}', 'CREATE FUNCTION public.pwn() RETURNS int LANGUAGE sql AS $$ SELECT 1 $$', 7, 'end', 0)`),
      ).rejects.toThrow(/pgincr\.ddl_history is written only by pgincr's own writers/);
      await expect(su.query(`INSERT INTO pgincr.sequence_positions (recorded_at, positions) VALUES (now(), '[]')`)).rejects.toThrow(
        /pgincr\.sequence_positions is written only by pgincr's own writers/,
      );
      // A forged seal is no seal: the value must carry the MAC of this transaction.
      await su.query('BEGIN');
      await su.query(`SELECT set_config('pgincr.writing', repeat('0', 64) || ':ddl_history', true)`);
      await expect(
        su.query(`INSERT INTO pgincr.ddl_history (xid, occurred_at, role_name, search_path, command_tag, object_types,
          object_identities, query, schema_version) VALUES (0, now(), '', '', 'CREATE TABLE', '{}', '{}', 'CREATE TABLE x()', 7)`),
      ).rejects.toThrow(/written only by pgincr's own writers/);
      await su.query('ROLLBACK');
      await expect(
        su.query(`SELECT pgincr.write_ddl_row('CREATE TABLE', '{}', '{}', 'CREATE TABLE public.forged (a int)', '', 'end', 0, NULL)`),
      ).rejects.toThrow(/can only be called in an event trigger function/);

      // The real writers: a DDL statement and the sequence recorder.
      await su.query('CREATE SEQUENCE public.s; CREATE TABLE public.t (id int PRIMARY KEY)');
      await su.query('SELECT pgincr.record_sequence_positions()');
      const ddl = await su.query<{ query: string; signed: boolean }>(
        `SELECT query, sig = pgincr.mac(pgincr.ddl_history_canonical(h)) AS signed FROM pgincr.ddl_history h ORDER BY id`,
      );
      expect(ddl.rows.map((r) => r.signed)).toEqual([true, true]);
      expect(ddl.rows.map((r) => r.query)).toEqual([
        'CREATE SEQUENCE public.s; CREATE TABLE public.t (id int PRIMARY KEY)',
        'CREATE SEQUENCE public.s; CREATE TABLE public.t (id int PRIMARY KEY)',
      ]);
      const seq = await su.query<{ positions: unknown; signed: boolean }>(
        `SELECT positions, sig = pgincr.mac(pgincr.canonical_field(positions::text)) AS signed FROM pgincr.sequence_positions`,
      );
      expect(seq.rows).toEqual([{ positions: [{ schema: 'public', name: 's', last_value: '1', is_called: false }], signed: true }]);
    } finally {
      await su.end();
    }
  });
});
